// One kernel table from the kernels instantiated over an ops policy (see simd.hpp). Included by
// exactly one src/arch/<isa>.cpp per policy.
#ifndef SOFTXENT_SRC_KERNELS_TABLE_HPP
#define SOFTXENT_SRC_KERNELS_TABLE_HPP

#include "kernel_table.hpp"
#include "kernels/backward.hpp"
#include "kernels/cross_entropy.hpp"
#include "kernels/load.hpp"
#include "kernels/select.hpp"
#include "kernels/softmax.hpp"
#include "kernels/transform.hpp"

namespace softxent::detail {

template <class Ops>
constexpr kernel_table make_table(const char* name) noexcept {
  using forward = softmax_kernels<Ops>;
  using backward = backward_kernels<Ops>;
  using loss = cross_entropy_kernels<Ops>;
  using transform = transform_kernels<Ops>;
  using io = load_kernels<Ops>;
  return kernel_table{
      name,
      forward::logsumexp_rows,
      forward::softmax_rows,
      forward::log_softmax_rows,
      backward::softmax_backward_rows,
      backward::log_softmax_backward_rows,
      loss::cross_entropy_rows,
      forward::exp_stats_chunk,
      forward::scale_chunk,
      forward::softmax_chunk,
      forward::log_softmax_chunk,
      loss::cross_entropy_stats_chunk,
      loss::cross_entropy_grad_chunk,
      backward::dot_chunk,
      backward::softmax_backward_chunk,
      backward::log_softmax_backward_chunk,
      transform::logit_transform_chunk,
      transform::logit_chain_chunk,
      io::load_chunk,
      forward::load_stats_chunk,
      forward::load_exp_stats_chunk,
      io::store_chunk,
      io::softmax_out_chunk,
      io::store_softmax_chunk,
      &select_kernels<Ops>::table,
  };
}

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_KERNELS_TABLE_HPP
