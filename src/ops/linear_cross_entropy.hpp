// The fused linear cross-entropy with its workspace budget as a parameter: the public calls use
// 64 MiB; the tests use a few KiB to reach every blocking (several row blocks, class blocks) on
// shapes small enough for a long double reference.
#ifndef SOFTXENT_SRC_OPS_LINEAR_CROSS_ENTROPY_HPP
#define SOFTXENT_SRC_OPS_LINEAR_CROSS_ENTROPY_HPP

#include <cstddef>
#include <cstdint>

#include "softxent/softxent.hpp"

namespace softxent::detail {

constexpr std::size_t fused_workspace_budget = std::size_t{64} << 20;

std::size_t linear_cross_entropy_workspace_size(std::size_t rows, std::size_t hidden, std::size_t classes,
                                                std::size_t budget) noexcept;
status linear_cross_entropy(const linear_layer& layer, const std::int64_t* targets, float* loss,
                            const linear_gradients& grads, workspace_view work, const cross_entropy_options& options,
                            const exec_options& exec, std::size_t budget) noexcept;

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_OPS_LINEAR_CROSS_ENTROPY_HPP
