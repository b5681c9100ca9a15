// The C API: converts arguments to the C++ API's views and options; nothing is thrown (every C++
// entry point is noexcept) and nothing is allocated.
#include "softxent/softxent.h"

#include "softxent/softxent.hpp"

#include <cstddef>
#include <cstring>

namespace {

using softxent::const_matrix;
using softxent::matrix;

// A C enum may hold any int: read its bytes as an int, which validation then rejects when it is
// outside the C++ enum's values (loading it through the C enum type would be undefined in C++).
template <class CppEnum, class CEnum>
CppEnum enum_of(const CEnum& value) noexcept {
  static_assert(sizeof(CEnum) == sizeof(int), "C enums are ints");
  int raw = 0;
  std::memcpy(&raw, &value, sizeof raw);
  return static_cast<CppEnum>(raw);
}

softxent::exec_options to_cpp(const softxent_exec* exec) noexcept {
  softxent::exec_options options;
  if (exec != nullptr) {
    options.threads = exec->threads;
    options.isa = exec->isa;
    options.parallel_for = exec->parallel_for;
    options.pool = exec->pool;
  }
  return options;
}

softxent::cross_entropy_options to_cpp(const softxent_cross_entropy_options* options) noexcept {
  softxent::cross_entropy_options result;
  if (options != nullptr) {
    result.reduction = enum_of<softxent::reduction>(options->reduction);
    result.ignore_index = options->ignore_index;
    result.label_smoothing = options->label_smoothing;
    result.class_weights = options->class_weights;
    result.z_loss = options->z_loss;
    result.logit_scale = options->logit_scale;
    result.softcap = options->softcap;
  }
  return result;
}

softxent::sampling_options to_cpp(const softxent_sampling_options* options) noexcept {
  softxent::sampling_options result;
  if (options != nullptr) {
    result.temperature = options->temperature;
    result.top_k = options->top_k;
    result.top_p = options->top_p;
    result.min_p = options->min_p;
    result.offset = options->offset;
  }
  return result;
}

softxent_status to_c(softxent::status s) noexcept { return static_cast<softxent_status>(s); }

softxent::const_any_matrix to_cpp(softxent_const_matrix m, size_t rows, size_t cols) noexcept {
  return {m.data, enum_of<softxent::dtype>(m.dtype), rows, cols, m.stride};
}
softxent::any_matrix to_cpp(softxent_matrix m, size_t rows, size_t cols) noexcept {
  return {m.data, enum_of<softxent::dtype>(m.dtype), rows, cols, m.stride};
}

softxent::softmax_options to_cpp(const softxent_softmax_options* options, size_t cols) noexcept {
  softxent::softmax_options result;
  if (options != nullptr) {
    result.scale = options->scale;
    result.softcap = options->softcap;
    if (options->mask.data != nullptr) result.mask = to_cpp(options->mask, options->mask_rows, cols);
    result.rows_per_head = options->rows_per_head;
    result.slopes = options->slopes;
    result.sinks = options->sinks;
    result.valid_cols = options->valid_cols;
  }
  return result;
}

}  // namespace

extern "C" {

const char* softxent_status_string(softxent_status status) {
  return softxent::status_string(static_cast<softxent::status>(status));
}

softxent_status softxent_logsumexp_f32(size_t rows, size_t cols, const float* x, size_t x_stride, float* lse,
                                       const softxent_exec* exec) {
  return to_c(softxent::logsumexp(const_matrix(x, rows, cols, x_stride), lse, to_cpp(exec)));
}

softxent_status softxent_softmax_f32(size_t rows, size_t cols, const float* x, size_t x_stride, float* y,
                                     size_t y_stride, const softxent_exec* exec) {
  return to_c(softxent::softmax(const_matrix(x, rows, cols, x_stride), matrix(y, rows, cols, y_stride), to_cpp(exec)));
}

softxent_status softxent_log_softmax_f32(size_t rows, size_t cols, const float* x, size_t x_stride, float* y,
                                         size_t y_stride, const softxent_exec* exec) {
  return to_c(
      softxent::log_softmax(const_matrix(x, rows, cols, x_stride), matrix(y, rows, cols, y_stride), to_cpp(exec)));
}

softxent_status softxent_softmax_backward_f32(size_t rows, size_t cols, const float* y, size_t y_stride,
                                              const float* dy, size_t dy_stride, float* dx, size_t dx_stride,
                                              const softxent_exec* exec) {
  return to_c(softxent::softmax_backward(const_matrix(y, rows, cols, y_stride), const_matrix(dy, rows, cols, dy_stride),
                                         matrix(dx, rows, cols, dx_stride), to_cpp(exec)));
}

softxent_status softxent_log_softmax_backward_f32(size_t rows, size_t cols, const float* y, size_t y_stride,
                                                  const float* dy, size_t dy_stride, float* dx, size_t dx_stride,
                                                  const softxent_exec* exec) {
  return to_c(softxent::log_softmax_backward(const_matrix(y, rows, cols, y_stride),
                                             const_matrix(dy, rows, cols, dy_stride), matrix(dx, rows, cols, dx_stride),
                                             to_cpp(exec)));
}

void softxent_cross_entropy_options_init(softxent_cross_entropy_options* options) {
  if (options == nullptr) return;
  const softxent::cross_entropy_options defaults;
  options->reduction = static_cast<softxent_reduction>(defaults.reduction);
  options->ignore_index = defaults.ignore_index;
  options->label_smoothing = defaults.label_smoothing;
  options->class_weights = defaults.class_weights;
  options->z_loss = defaults.z_loss;
  options->logit_scale = defaults.logit_scale;
  options->softcap = defaults.softcap;
}

softxent_status softxent_cross_entropy_f32(size_t rows, size_t cols, const float* logits, size_t logits_stride,
                                           const int64_t* targets, const softxent_cross_entropy_options* options,
                                           float* loss, float* grad, size_t grad_stride, const softxent_exec* exec) {
  return to_c(softxent::cross_entropy(const_matrix(logits, rows, cols, logits_stride), targets, loss,
                                      matrix(grad, rows, cols, grad_stride), to_cpp(options), to_cpp(exec)));
}

softxent_status softxent_cross_entropy_soft_f32(size_t rows, size_t cols, const float* logits, size_t logits_stride,
                                                const float* target_probs, size_t target_stride,
                                                const softxent_cross_entropy_options* options, float* loss,
                                                float* grad, size_t grad_stride, const softxent_exec* exec) {
  return to_c(softxent::cross_entropy_soft(const_matrix(logits, rows, cols, logits_stride),
                                           const_matrix(target_probs, rows, cols, target_stride), loss,
                                           matrix(grad, rows, cols, grad_stride), to_cpp(options), to_cpp(exec)));
}

void softxent_softmax_options_init(softxent_softmax_options* options) {
  if (options == nullptr) return;
  const softxent::softmax_options defaults;
  std::memset(options, 0, sizeof *options);
  options->scale = defaults.scale;
  options->softcap = defaults.softcap;
  options->mask.dtype = SOFTXENT_F32;
  options->rows_per_head = defaults.rows_per_head;
}
softxent_status softxent_logsumexp(size_t rows, size_t cols, softxent_const_matrix x,
                                   const softxent_softmax_options* options, float* lse, const softxent_exec* exec) {
  return to_c(softxent::logsumexp(to_cpp(x, rows, cols), lse, to_cpp(options, cols), to_cpp(exec)));
}
softxent_status softxent_softmax(size_t rows, size_t cols, softxent_const_matrix x, softxent_matrix y,
                                 const softxent_softmax_options* options, const softxent_exec* exec) {
  return to_c(softxent::softmax(to_cpp(x, rows, cols), to_cpp(y, rows, cols), to_cpp(options, cols), to_cpp(exec)));
}
softxent_status softxent_log_softmax(size_t rows, size_t cols, softxent_const_matrix x, softxent_matrix y,
                                     const softxent_softmax_options* options, const softxent_exec* exec) {
  return to_c(
      softxent::log_softmax(to_cpp(x, rows, cols), to_cpp(y, rows, cols), to_cpp(options, cols), to_cpp(exec)));
}
softxent_status softxent_softmax_backward(size_t rows, size_t cols, softxent_const_matrix y, softxent_const_matrix dy,
                                          softxent_matrix dx, const softxent_exec* exec) {
  return to_c(softxent::softmax_backward(to_cpp(y, rows, cols), to_cpp(dy, rows, cols), to_cpp(dx, rows, cols),
                                         to_cpp(exec)));
}
softxent_status softxent_log_softmax_backward(size_t rows, size_t cols, softxent_const_matrix y,
                                              softxent_const_matrix dy, softxent_matrix dx, const softxent_exec* exec) {
  return to_c(softxent::log_softmax_backward(to_cpp(y, rows, cols), to_cpp(dy, rows, cols), to_cpp(dx, rows, cols),
                                             to_cpp(exec)));
}
softxent_status softxent_cross_entropy(size_t rows, size_t cols, softxent_const_matrix logits, const int64_t* targets,
                                       const softxent_cross_entropy_options* options, float* loss, softxent_matrix grad,
                                       const softxent_exec* exec) {
  return to_c(softxent::cross_entropy(to_cpp(logits, rows, cols), targets, loss, to_cpp(grad, rows, cols),
                                      to_cpp(options), to_cpp(exec)));
}
softxent_status softxent_cross_entropy_soft(size_t rows, size_t cols, softxent_const_matrix logits,
                                            softxent_const_matrix target_probs,
                                            const softxent_cross_entropy_options* options, float* loss,
                                            softxent_matrix grad, const softxent_exec* exec) {
  return to_c(softxent::cross_entropy_soft(to_cpp(logits, rows, cols), to_cpp(target_probs, rows, cols), loss,
                                           to_cpp(grad, rows, cols), to_cpp(options), to_cpp(exec)));
}
// The C and C++ statistics are the same four doubles.
static_assert(sizeof(softxent_shard_stats) == sizeof(softxent::shard_stats), "shard_stats layout");
static_assert(offsetof(softxent_shard_stats, smoothing_sum) == offsetof(softxent::shard_stats, smoothing_sum),
              "shard_stats layout");
softxent_status softxent_cross_entropy_shard_stats_f32(size_t rows, size_t shard_cols, size_t shard_offset,
                                                       size_t total_cols, const float* logits, size_t logits_stride,
                                                       const int64_t* targets,
                                                       const softxent_cross_entropy_options* options,
                                                       softxent_shard_stats* stats, const softxent_exec* exec) {
  return to_c(softxent::cross_entropy_shard_stats(const_matrix(logits, rows, shard_cols, logits_stride),
                                                  {shard_offset, total_cols}, targets,
                                                  reinterpret_cast<softxent::shard_stats*>(stats), to_cpp(options),
                                                  to_cpp(exec)));
}
void softxent_shard_stats_merge(size_t rows, const softxent_shard_stats* in, softxent_shard_stats* inout) {
  softxent::shard_stats_merge(rows, reinterpret_cast<const softxent::shard_stats*>(in),
                              reinterpret_cast<softxent::shard_stats*>(inout));
}
softxent_status softxent_cross_entropy_shard_finish_f32(size_t rows, size_t shard_cols, size_t shard_offset,
                                                        size_t total_cols, const float* logits, size_t logits_stride,
                                                        const int64_t* targets,
                                                        const softxent_cross_entropy_options* options,
                                                        const softxent_shard_stats* merged, float* loss, float* grad,
                                                        size_t grad_stride, const softxent_exec* exec) {
  return to_c(softxent::cross_entropy_shard_finish(
      const_matrix(logits, rows, shard_cols, logits_stride), {shard_offset, total_cols}, targets,
      reinterpret_cast<const softxent::shard_stats*>(merged), loss, matrix(grad, rows, shard_cols, grad_stride),
      to_cpp(options), to_cpp(exec)));
}
size_t softxent_linear_cross_entropy_workspace_size(size_t rows, size_t hidden, size_t classes,
                                                    const softxent_exec* exec) {
  return softxent::linear_cross_entropy_workspace_size(rows, hidden, classes, to_cpp(exec));
}
softxent_status softxent_linear_cross_entropy_f32(size_t rows, size_t hidden, size_t classes, const float* inputs,
                                                  size_t inputs_stride, const float* weight, size_t weight_stride,
                                                  const float* bias, const int64_t* targets,
                                                  const softxent_cross_entropy_options* options, float* loss,
                                                  float* grad_inputs, size_t grad_inputs_stride, float* grad_weight,
                                                  size_t grad_weight_stride, float* grad_bias, void* workspace,
                                                  size_t workspace_size, const softxent_exec* exec) {
  const softxent::linear_layer layer{const_matrix(inputs, rows, hidden, inputs_stride),
                                     const_matrix(weight, classes, hidden, weight_stride), bias};
  const softxent::linear_gradients grads{matrix(grad_inputs, rows, hidden, grad_inputs_stride),
                                         matrix(grad_weight, classes, hidden, grad_weight_stride), grad_bias};
  return to_c(softxent::linear_cross_entropy(layer, targets, loss, grads, {workspace, workspace_size},
                                             to_cpp(options), to_cpp(exec)));
}

softxent_status softxent_top_k(size_t rows, size_t cols, softxent_const_matrix logits,
                               const softxent_softmax_options* transform, size_t k, int64_t* indices,
                               float* log_probs, float* lse, const softxent_exec* exec) {
  return to_c(softxent::top_k(to_cpp(logits, rows, cols), k, indices, log_probs, lse, to_cpp(transform, cols),
                              to_cpp(exec)));
}
void softxent_sampling_options_init(softxent_sampling_options* options) {
  if (options == nullptr) return;
  const softxent::sampling_options defaults;
  options->temperature = defaults.temperature;
  options->top_k = defaults.top_k;
  options->top_p = defaults.top_p;
  options->min_p = defaults.min_p;
  options->offset = defaults.offset;
}
softxent_status softxent_sample(size_t rows, size_t cols, softxent_const_matrix logits,
                                const softxent_softmax_options* transform, const softxent_sampling_options* options,
                                const uint64_t* seeds, int64_t* tokens, float* log_probs, const softxent_exec* exec) {
  return to_c(softxent::sample(to_cpp(logits, rows, cols), seeds, tokens, log_probs, to_cpp(options),
                               to_cpp(transform, cols), to_cpp(exec)));
}
const char* softxent_isa(const softxent_exec* exec) { return softxent::isa(to_cpp(exec)); }

const char* softxent_version(void) { return softxent::version(); }

}  // extern "C"
