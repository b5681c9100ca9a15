// The NEON kernel table (AArch64 builds): the generic kernels instantiated over xsimd::neon64.
#include "kernels/simd.hpp"
#include "kernels/table.hpp"

namespace softxent::detail {
namespace {
constexpr kernel_table table = make_table<xsimd_ops<xsimd::neon64>>("neon");
}  // namespace

const kernel_table* neon_table() noexcept { return &table; }

}  // namespace softxent::detail
