// See c_api_checker.hpp. The case comes from fuzz_case.cpp and every library call of it is made and
// checked through invoke() (call_check.hpp); this file holds the operations: for each C entry point
// family, a call function (its arguments as regions, then the call) and a check function (its
// outputs against the oracle), in operations[]; and the driver that runs a case on the tested exec,
// on the reference ISA and again with other thread counts and pool groupings.
#include "c_api_checker.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <utility>
#include <vector>

#include "call_check.hpp"
#include "fuzz_case.hpp"
#include "oracle/oracle.hpp"
#include "softxent/softxent.h"

namespace softxent_fuzz {
namespace {

using softxent_oracle::compare;
using softxent_oracle::matrix_in;

void fake_parallel_for(void* pool, std::size_t units, softxent_task task, void* context) {
  auto& state = *static_cast<pool_state*>(pool);
  ++state.calls;
  if (state.mode == 1) {
    for (std::size_t unit = units; unit-- > 0;) task(context, unit, unit + 1);
    return;
  }
  random_bits bits{state.seed};
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  for (std::size_t first = 0; first < units;) {
    const std::size_t length = 1 + static_cast<std::size_t>(bits.next() % std::max<std::size_t>(units / 2, 1));
    const std::size_t end = std::min(units, first + length);
    ranges.emplace_back(first, end);
    first = end;
  }
  for (std::size_t i = ranges.size(); i > 1; --i) std::swap(ranges[i - 1], ranges[bits.next() % i]);
  for (const auto& range : ranges) task(context, range.first, range.second);
}

// ---------------------------------------------------------------------------------------------
// The operations' calls

// A C enum field set from any int (a C caller may store any value; never read back through the enum).
template <class Enum>
void set_raw(Enum& field, int raw) {
  static_assert(sizeof(Enum) == sizeof(int), "C enums are ints");
  std::memcpy(&field, &raw, sizeof raw);
}
template <class Matrix, class Data>
Matrix matrix_of(Data* data, int dtype, std::size_t stride) {
  Matrix m{};
  m.data = data;
  set_raw(m.dtype, dtype);
  m.stride = stride;
  return m;
}
const float* float_at(const call_buffers& b, location l) { return reinterpret_cast<const float*>(address(b, l)); }
float* float_at(call_buffers& b, location l) { return reinterpret_cast<float*>(address(b, l)); }

// Regions made outputs.
argument_region as_output(argument_region r, unsigned may_equal = 0) {
  r.output = true;
  r.may_equal = may_equal;
  return r;
}
argument_region optional(argument_region r) {
  r.needed = false;
  return r;
}

// ---- the softmax options

softxent_softmax_options softmax_options_of(const fuzz_case& c, call_buffers& b) {
  softxent_softmax_options o;
  softxent_softmax_options_init(&o);
  const transform_case& t = c.transform;
  if (!t.set()) return o;
  o.scale = t.scale;
  o.softcap = t.softcap;
  o.mask = matrix_of<softxent_const_matrix>(t.mask_kind != 0 ? address(b, {storage_mask, 0}) : nullptr,
                                            t.mask_dtype, t.mask_stride);
  o.mask_rows = t.mask_rows;
  o.rows_per_head = t.rows_per_head;
  o.slopes = t.slopes.empty() ? nullptr : float_at(b, {storage_slopes, 0});
  o.sinks = t.sinks.empty() ? nullptr : float_at(b, {storage_sinks, 0});
  o.valid_cols = t.valid_cols.empty() ? nullptr
                                      : reinterpret_cast<const std::int64_t*>(address(b, {storage_valid_cols, 0}));
  return o;
}

// The transform's own arguments (mask, slopes, sinks, valid_cols) and the errors of its values.
void add_softmax_options(const fuzz_case& c, call_arguments& a) {
  const transform_case& t = c.transform;
  if (!t.set()) return;
  const std::size_t heads = c.rows == 0 ? 0 : c.heads();
  if (t.mask_kind != 0)
    a.regions.push_back(
        optional(matrix_region("mask", {storage_mask, 0}, t.mask_rows, c.cols, t.mask_stride, t.mask_dtype, true)));
  if (!t.slopes.empty()) a.regions.push_back(optional(vector_region("slopes", {storage_slopes, 0}, heads, 4)));
  if (!t.sinks.empty()) a.regions.push_back(optional(vector_region("sinks", {storage_sinks, 0}, heads, 4)));
  if (!t.valid_cols.empty())
    a.regions.push_back(optional(vector_region("valid_cols", {storage_valid_cols, 0}, c.rows, 8)));
  const bool rows = c.rows > 0;
  if (!(t.scale > 0 && std::isfinite(t.scale))) a.options.add(true, SOFTXENT_ERROR_INVALID_OPTION);
  if (!(t.softcap >= 0 && std::isfinite(t.softcap))) a.options.add(true, SOFTXENT_ERROR_INVALID_OPTION);
  bool bad = false;
  for (std::size_t h = 0; h < heads; ++h) {
    bad = bad || (!t.slopes.empty() && !std::isfinite(t.slopes[h]));
    bad = bad || (!t.sinks.empty() && !std::isfinite(t.sinks[h]));
  }
  for (std::size_t r = 0; r < c.rows && !t.valid_cols.empty(); ++r)
    bad = bad || t.valid_cols[r] < 0 || static_cast<std::uint64_t>(t.valid_cols[r]) > c.cols;
  if (bad) a.options.add(rows, SOFTXENT_ERROR_INVALID_OPTION);
}

// ---- the cross-entropy options

softxent_cross_entropy_options cross_entropy_options_of(const fuzz_case& c, const call_buffers& b) {
  softxent_cross_entropy_options o = c.options;
  o.class_weights = c.weights.empty() ? nullptr : float_at(b, {storage_weights, 0});
  return o;
}

// The weights (classes values) and targets of a cross-entropy call, and the errors of the options.
void add_cross_entropy_options(const fuzz_case& c, std::size_t classes, call_arguments& a) {
  if (c.has(trait_integer_targets)) {
    a.targets = static_cast<int>(a.regions.size());
    a.classes = classes;
    a.ignore_index = c.options.ignore_index;
    a.regions.push_back(vector_region("targets", c.null_pointer == 1 ? location{} : location{storage_targets, 0},
                                      c.rows, 8));
  }
  if (c.options_null) return;
  if (!c.weights.empty()) a.regions.push_back(optional(vector_region("weights", {storage_weights, 0}, classes, 4)));
  const softxent_cross_entropy_options& o = c.options;
  const auto invalid = [&](bool definite) { a.options.add(definite, SOFTXENT_ERROR_INVALID_OPTION); };
  if (c.reduction_raw < 0 || c.reduction_raw > 2) invalid(true);
  if (!(o.label_smoothing >= 0 && o.label_smoothing <= 1)) invalid(true);
  if (!(o.z_loss >= 0 && std::isfinite(o.z_loss))) invalid(true);
  if (!(o.logit_scale > 0 && std::isfinite(o.logit_scale))) invalid(true);
  if (!(o.softcap >= 0 && std::isfinite(o.softcap))) invalid(true);
  bool bad_weight = false;
  for (std::size_t j = 0; j < classes && j < c.weights.size(); ++j)
    bad_weight = bad_weight || !(c.weights[j] >= 0 && std::isfinite(c.weights[j]));
  if (bad_weight) invalid(c.rows > 0);  // rows == 0: the weights may go unread
}

const std::int64_t* targets_of(const fuzz_case& c, const call_buffers& b) {
  return c.null_pointer == 1 ? nullptr : reinterpret_cast<const std::int64_t*>(address(b, {storage_targets, 0}));
}

// ---- logsumexp, softmax, log_softmax

softxent_status call_forward(const fuzz_case& c, call_buffers& b, call_context& context) {
  const bool lse = c.has(trait_lse_output);
  const bool plain = c.in0.dtype == SOFTXENT_F32 && (lse || c.out.dtype == SOFTXENT_F32) && !c.transform.given();
  const bool typed = c.generic || !plain;
  call_arguments a;
  a.label = std::string(c.entry().name) + (typed ? "" : "_f32");
  a.rows = c.rows;
  a.cols = c.cols;
  a.regions.push_back(matrix_region("x", b.first, c.rows, c.cols, c.in0.stride, c.in0.dtype, typed));
  if (lse) a.regions.push_back(as_output(vector_region("lse", b.loss, c.rows, 4)));
  else a.regions.push_back(as_output(matrix_region("y", b.output, c.rows, c.cols, b.output_stride, c.out.dtype, typed), 1u));
  add_softmax_options(c, a);
  const softxent_softmax_options options = softmax_options_of(c, b);
  const softxent_softmax_options* options_ptr = c.transform.given() ? &options : nullptr;
  const auto x = matrix_of<softxent_const_matrix>(address(b, b.first), c.in0.dtype, c.in0.stride);
  const auto y = matrix_of<softxent_matrix>(address(b, b.output), c.out.dtype, b.output_stride);
  const float* x_f32 = float_at(b, b.first);
  float* y_f32 = float_at(b, b.output);
  float* lse_out = float_at(b, b.loss);
  const std::size_t rows = c.rows, cols = c.cols;
  return invoke(context, b, a, [&] {
    switch (c.op) {
      case op_logsumexp:
        return typed ? softxent_logsumexp(rows, cols, x, options_ptr, lse_out, context.exec)
                     : softxent_logsumexp_f32(rows, cols, x_f32, x.stride, lse_out, context.exec);
      case op_softmax:
        return typed ? softxent_softmax(rows, cols, x, y, options_ptr, context.exec)
                     : softxent_softmax_f32(rows, cols, x_f32, x.stride, y_f32, y.stride, context.exec);
      default:
        return typed ? softxent_log_softmax(rows, cols, x, y, options_ptr, context.exec)
                     : softxent_log_softmax_f32(rows, cols, x_f32, x.stride, y_f32, y.stride, context.exec);
    }
  });
}

// ---- softmax_backward, log_softmax_backward

softxent_status call_backward(const fuzz_case& c, call_buffers& b, call_context& context) {
  const bool typed = c.generic || c.in0.dtype != SOFTXENT_F32 || c.in1.dtype != SOFTXENT_F32 || c.out.dtype != SOFTXENT_F32;
  call_arguments a;
  a.label = std::string(c.entry().name) + (typed ? "" : "_f32");
  a.rows = c.rows;
  a.cols = c.cols;
  a.regions.push_back(matrix_region("y", b.first, c.rows, c.cols, c.in0.stride, c.in0.dtype, typed));
  a.regions.push_back(matrix_region("dy", b.second, c.rows, c.cols, c.in1.stride, c.in1.dtype, typed));
  a.regions.push_back(
      as_output(matrix_region("dx", b.output, c.rows, c.cols, b.output_stride, c.out.dtype, typed), 1u | 2u));
  const auto y = matrix_of<softxent_const_matrix>(address(b, b.first), c.in0.dtype, c.in0.stride);
  const auto dy = matrix_of<softxent_const_matrix>(address(b, b.second), c.in1.dtype, c.in1.stride);
  const auto dx = matrix_of<softxent_matrix>(address(b, b.output), c.out.dtype, b.output_stride);
  const float* y_f32 = float_at(b, b.first);
  const float* dy_f32 = float_at(b, b.second);
  float* dx_f32 = float_at(b, b.output);
  const std::size_t rows = c.rows, cols = c.cols;
  const bool log_space = c.op == op_log_softmax_backward;
  return invoke(context, b, a, [&] {
    if (typed) {
      return log_space ? softxent_log_softmax_backward(rows, cols, y, dy, dx, context.exec)
                       : softxent_softmax_backward(rows, cols, y, dy, dx, context.exec);
    }
    return log_space ? softxent_log_softmax_backward_f32(rows, cols, y_f32, y.stride, dy_f32, dy.stride, dx_f32,
                                                         dx.stride, context.exec)
                     : softxent_softmax_backward_f32(rows, cols, y_f32, y.stride, dy_f32, dy.stride, dx_f32, dx.stride,
                                                     context.exec);
  });
}

// ---- cross_entropy, cross_entropy_soft

softxent_status call_cross_entropy(const fuzz_case& c, call_buffers& b, call_context& context) {
  const bool soft = c.op == op_cross_entropy_soft;
  const bool typed = c.generic || c.in0.dtype != SOFTXENT_F32 || (soft && c.in1.dtype != SOFTXENT_F32) ||
                     (c.with_grad && c.out.dtype != SOFTXENT_F32);
  call_arguments a;
  a.label = std::string(c.entry().name) + (typed ? "" : "_f32") + (c.with_grad ? "(grad)" : "(loss)");
  a.rows = c.rows;
  a.cols = c.cols;
  a.regions.push_back(matrix_region("logits", b.first, c.rows, c.cols, c.in0.stride, c.in0.dtype, typed));
  if (soft) a.regions.push_back(matrix_region("target_probs", b.second, c.rows, c.cols, c.in1.stride, c.in1.dtype, typed));
  add_cross_entropy_options(c, c.cols, a);
  a.regions.push_back(as_output(vector_region("loss", b.loss, loss_count(c), 4)));
  // Loss only: grad's data NULL, its dtype and stride whatever the case holds (they must be ignored).
  const location grad = c.with_grad ? b.output : location{};
  if (c.with_grad)
    a.regions.push_back(optional(
        as_output(matrix_region("grad", grad, c.rows, c.cols, b.output_stride, c.out.dtype, typed), 1u)));
  const softxent_cross_entropy_options options = cross_entropy_options_of(c, b);
  const softxent_cross_entropy_options* options_ptr = c.options_null ? nullptr : &options;
  const auto logits = matrix_of<softxent_const_matrix>(address(b, b.first), c.in0.dtype, c.in0.stride);
  const auto probs = matrix_of<softxent_const_matrix>(address(b, b.second), c.in1.dtype, c.in1.stride);
  const auto grad_matrix = matrix_of<softxent_matrix>(address(b, grad), c.out.dtype, b.output_stride);
  const float* logits_f32 = float_at(b, b.first);
  const float* probs_f32 = float_at(b, b.second);
  float* grad_f32 = float_at(b, grad);
  float* loss = float_at(b, b.loss);
  const std::int64_t* targets = targets_of(c, b);
  const std::size_t rows = c.rows, cols = c.cols;
  return invoke(context, b, a, [&] {
    if (soft) {
      return typed ? softxent_cross_entropy_soft(rows, cols, logits, probs, options_ptr, loss, grad_matrix, context.exec)
                   : softxent_cross_entropy_soft_f32(rows, cols, logits_f32, logits.stride, probs_f32, probs.stride,
                                                     options_ptr, loss, grad_f32, grad_matrix.stride, context.exec);
    }
    return typed ? softxent_cross_entropy(rows, cols, logits, targets, options_ptr, loss, grad_matrix, context.exec)
                 : softxent_cross_entropy_f32(rows, cols, logits_f32, logits.stride, targets, options_ptr, loss, grad_f32,
                                              grad_matrix.stride, context.exec);
  });
}

// ---- sharded cross-entropy: shard_stats per shard, merges in the case's grouping, finish per shard

constexpr std::size_t stats_fields = sizeof(softxent_shard_stats) / sizeof(double);

bool shard_fits(std::size_t offset, std::size_t width, std::size_t total) {
  return total > 0 && width > 0 && offset <= total && width <= total - offset;
}

// The arguments shard_stats and finish share, for shard i.
call_arguments shard_arguments(const fuzz_case& c, const call_buffers& b, const char* call, std::size_t i) {
  const shard_case& s = c.shards;
  call_arguments a;
  a.label = std::string(call) + "[" + std::to_string(i) + "]";
  a.rows = c.rows;
  a.cols = s.widths[i];
  const location logits = b.first.storage < 0 ? location{}
                                              : location{storage_first, std::min(s.offsets[i], c.cols) * sizeof(float)};
  a.regions.push_back(matrix_region("logits", logits, c.rows, s.widths[i], c.in0.stride, SOFTXENT_F32, false));
  add_cross_entropy_options(c, s.total_cols, a);
  a.bad_shape = !shard_fits(s.offsets[i], s.widths[i], s.total_cols);
  return a;
}

// What the statistics promise beside the final loss: an ignored row's are the merge identity; max is
// NaN for a NaN or +inf among the shard's logits, -inf when all are masked, else max z; target_logit
// is z_target when the target is in the shard, else 0; smoothing_sum is 0 without label smoothing.
std::string check_shard_stats(const fuzz_case& c, const call_buffers& b, const std::string& prefix, std::size_t i) {
  const shard_case& s = c.shards;
  const auto* stats = reinterpret_cast<const softxent_shard_stats*>(address(b, {storage_stats, i * c.rows * sizeof(softxent_shard_stats)}));
  const auto* targets = targets_of(c, b);
  const float scale = c.options.logit_scale, cap = c.options.softcap;
  // z computed in float: within SPEC's widening of the transform, 4 eps (|z| + max_k |z_k|), plus eps
  // absolute (a tiny z may underflow in float; the loss's bounds hold 8 eps absolute anyway).
  long double largest = 0;
  const auto near = [&](double got, long double exact) {
    return got == exact || std::fabs(got - exact) <= 0x1p-23L * (4 * (std::fabs(exact) + largest) + 1);
  };
  std::ostringstream problems;
  problems.precision(17);
  for (std::size_t r = 0; r < c.rows; ++r) {
    const softxent_shard_stats& st = stats[r];
    const std::string where = prefix + "shard_stats[" + std::to_string(i) + "] row " + std::to_string(r) + ": ";
    if (targets[r] == c.options.ignore_index) {
      if (!(st.max == -INFINITY && st.sum_exp == 0 && st.target_logit == 0 && st.smoothing_sum == 0))
        problems << where << "an ignored row's statistics are not {-inf, 0, 0, 0}: {" << st.max << ", " << st.sum_exp
                 << ", " << st.target_logit << ", " << st.smoothing_sum << "}\n";
      continue;
    }
    bool poisoned = false;
    long double max = -INFINITY;
    largest = 0;
    for (std::size_t j = s.offsets[i]; j < s.offsets[i] + s.widths[i]; ++j) {
      const float x = c.values0[r * c.in0.stride + j];
      poisoned = poisoned || std::isnan(x) || x == infinity;
      if (std::isnan(x)) continue;
      const long double z = softxent_oracle::cross_entropy_logit(x, scale, cap);
      max = std::fmax(max, z);
      if (std::isfinite(z)) largest = std::fmax(largest, std::fabs(z));
    }
    if (poisoned) {
      if (!std::isnan(st.max)) problems << where << "max " << st.max << " for a row with NaN or +inf\n";
      continue;
    }
    if (!near(st.max, max)) problems << where << "max " << st.max << ", exact " << static_cast<double>(max) << "\n";
    if (max == -INFINITY && st.sum_exp != 0) problems << where << "sum_exp " << st.sum_exp << " with every class masked\n";
    const auto t = static_cast<std::size_t>(targets[r]);
    const bool in_shard = t >= s.offsets[i] && t - s.offsets[i] < s.widths[i];
    const long double target = in_shard ? softxent_oracle::cross_entropy_logit(c.values0[r * c.in0.stride + t], scale, cap) : 0;
    if (!near(st.target_logit, target))
      problems << where << "target_logit " << st.target_logit << ", exact " << static_cast<double>(target) << "\n";
    if ((c.options_null || c.options.label_smoothing == 0) && st.smoothing_sum != 0)
      problems << where << "smoothing_sum " << st.smoothing_sum << " without label smoothing\n";
  }
  return problems.str();
}

// The unsharded cross-entropy of the same rows (its loss, then its gradient with stride cols, in
// storage_unsharded), which check_cross_entropy holds to the same bounds as the sharded result.
void call_unsharded(const fuzz_case& c, call_buffers& b, call_context& context) {
  call_arguments a;
  a.label = "cross_entropy_f32 (unsharded)";
  a.rows = c.rows;
  a.cols = c.cols;
  a.regions.push_back(matrix_region("logits", b.first, c.rows, c.cols, c.in0.stride, SOFTXENT_F32, false));
  add_cross_entropy_options(c, c.cols, a);
  const location loss{storage_unsharded, 0}, grad{storage_unsharded, loss_count(c) * sizeof(float)};
  a.regions.push_back(as_output(vector_region("loss", loss, loss_count(c), 4)));
  if (c.with_grad) a.regions.push_back(as_output(matrix_region("grad", grad, c.rows, c.cols, c.cols, SOFTXENT_F32, false)));
  const softxent_cross_entropy_options options = cross_entropy_options_of(c, b);
  invoke(context, b, a, [&] {
    return softxent_cross_entropy_f32(c.rows, c.cols, float_at(b, b.first), c.in0.stride, targets_of(c, b),
                                      c.options_null ? nullptr : &options, float_at(b, loss),
                                      c.with_grad ? float_at(b, grad) : nullptr, c.cols, context.exec);
  });
}

softxent_status call_sharded(const fuzz_case& c, call_buffers& b, call_context& context) {
  const shard_case& s = c.shards;
  const std::size_t rows = c.rows, stats_bytes = rows * sizeof(softxent_shard_stats);
  const softxent_cross_entropy_options options = cross_entropy_options_of(c, b);
  const softxent_cross_entropy_options* options_ptr = c.options_null ? nullptr : &options;
  const std::int64_t* targets = targets_of(c, b);
  const std::size_t count = s.fault != 0 ? 1 : s.offsets.size();
  const auto logits_of = [&](const call_arguments& a) { return float_at(b, a.regions[0].where); };

  // Each shard's statistics.
  softxent_status first_error = SOFTXENT_OK;
  for (std::size_t i = 0; i < count && first_error == SOFTXENT_OK; ++i) {
    call_arguments a = shard_arguments(c, b, "shard_stats", i);
    const location stats = c.null_pointer == 2 && c.stats_null ? location{} : location{storage_stats, i * stats_bytes};
    a.regions.push_back(as_output(vector_region("stats", stats, rows * stats_fields, sizeof(double))));
    auto* stats_out = reinterpret_cast<softxent_shard_stats*>(address(b, stats));
    first_error = invoke(context, b, a, [&] {
      return softxent_cross_entropy_shard_stats_f32(rows, s.widths[i], s.offsets[i], s.total_cols, logits_of(a),
                                                    c.in0.stride, targets, options_ptr, stats_out, context.exec);
    });
    if (first_error == SOFTXENT_OK && context.check_status) context.problems += check_shard_stats(c, b, std::string(context.who) + " ", i);
  }

  // The merges, in the case's grouping, into the merged statistics finish reads.
  std::vector<std::size_t> partials;
  for (std::size_t i = 0; i < count && first_error == SOFTXENT_OK; ++i) partials.push_back(i);
  random_bits order{s.grouping};
  while (partials.size() > 1) {
    const std::size_t i = order.below(partials.size());
    std::size_t j = order.below(partials.size() - 1);
    if (j >= i) ++j;
    call_arguments a;
    a.label = "shard_stats_merge";
    a.rows = rows;
    a.returns_status = false;
    const location in{storage_stats, partials[j] * stats_bytes}, inout{storage_stats, partials[i] * stats_bytes};
    a.regions.push_back(vector_region("in", in, rows * stats_fields, sizeof(double)));
    a.regions.push_back(as_output(vector_region("inout", inout, rows * stats_fields, sizeof(double))));
    invoke(context, b, a, [&] {
      softxent_shard_stats_merge(rows, reinterpret_cast<const softxent_shard_stats*>(address(b, in)),
                                 reinterpret_cast<softxent_shard_stats*>(address(b, inout)));
      return SOFTXENT_OK;
    });
    partials.erase(partials.begin() + static_cast<std::ptrdiff_t>(j));
  }
  if (!partials.empty() && rows > 0)
    std::memcpy(address(b, {storage_merged, 0}), address(b, {storage_stats, partials[0] * stats_bytes}), stats_bytes);
  if (s.fault != 0 && rows > 0) {  // finish of the invalid shard reads the statistics of no columns
    const softxent_shard_stats identity{-INFINITY, 0, 0, 0};
    for (std::size_t r = 0; r < rows; ++r)
      std::memcpy(address(b, {storage_merged, r * sizeof identity}), &identity, sizeof identity);
  }
  if (first_error != SOFTXENT_OK && s.fault == 0) return first_error;

  // Each shard's loss (every shard the same bits) and gradient columns.
  for (std::size_t i = 0; i < count; ++i) {
    call_arguments a = shard_arguments(c, b, "shard_finish", i);
    if (!c.with_grad) {
      a.regions[0].needed = false;  // logits may be NULL when grad is
      if (s.finish_without_logits) a.regions[0].where = location{};
    }
    const location merged = c.null_pointer == 2 && !c.stats_null ? location{} : location{storage_merged, 0};
    a.regions.push_back(vector_region("merged", merged, rows * stats_fields, sizeof(double)));
    location loss = b.loss;
    if (i > 0 && loss.storage == storage_loss) loss = {storage_shard_loss, (i - 1) * loss_count(c) * sizeof(float)};
    a.regions.push_back(as_output(vector_region("loss", loss, loss_count(c), 4)));
    location grad;
    if (c.with_grad && b.output.storage >= 0) grad = {b.output.storage, b.output.offset + s.offsets[i] * sizeof(float)};
    if (c.with_grad)
      a.regions.push_back(optional(
          as_output(matrix_region("grad", grad, rows, s.widths[i], b.output_stride, SOFTXENT_F32, false), 1u)));
    const softxent_status status = invoke(context, b, a, [&] {
      return softxent_cross_entropy_shard_finish_f32(
          rows, s.widths[i], s.offsets[i], s.total_cols, logits_of(a), c.in0.stride, targets, options_ptr,
          reinterpret_cast<const softxent_shard_stats*>(address(b, merged)), float_at(b, loss), float_at(b, grad),
          b.output_stride, context.exec);
    });
    if (status != SOFTXENT_OK) return first_error != SOFTXENT_OK ? first_error : status;
    if (i > 0 && rows > 0 && std::memcmp(address(b, loss), address(b, b.loss), loss_count(c) * sizeof(float)) != 0)
      context.problems += std::string(context.who) + " shard_finish[" + std::to_string(i) +
                          "]: the loss bits differ from shard 0's\n";
  }
  if (first_error == SOFTXENT_OK && c.alias != alias_in_place) call_unsharded(c, b, context);
  return first_error;
}

// ---- top_k, sample

// The sampling options the call gets (NULL: the defaults).
softxent_sampling_options sampling_options_of(const fuzz_case& c) {
  softxent_sampling_options o;
  softxent_sampling_options_init(&o);
  return c.selection.options_mode == 2 ? c.selection.options : o;
}

// The errors of k (top-k) or of the sampling options and a transform with sinks (sampling).
void add_selection_options(const fuzz_case& c, call_arguments& a) {
  const auto invalid = [&] { a.options.add(true, SOFTXENT_ERROR_INVALID_OPTION); };
  if (c.op == op_top_k) {
    const std::size_t k = c.selection.k;
    if (k == 0 || k > c.cols || k > SOFTXENT_MAX_TOP_K) invalid();
    return;
  }
  if (c.transform.set() && !c.transform.sinks.empty()) invalid();  // a sink is never drawn
  const softxent_sampling_options o = sampling_options_of(c);
  if (!(o.temperature >= 0 && std::isfinite(o.temperature))) invalid();
  if (!(o.top_p > 0 && o.top_p <= 1)) invalid();
  if (!(o.min_p >= 0 && o.min_p <= 1)) invalid();
  if (o.top_k < c.cols && o.top_k > SOFTXENT_MAX_TOP_K) invalid();
}

softxent_status call_selection(const fuzz_case& c, call_buffers& b, call_context& context) {
  const bool top_k = c.op == op_top_k;
  const std::size_t classes = c.rows * c.classes_per_row();
  call_arguments a;
  a.label = c.entry().name;
  a.rows = c.rows;
  a.cols = c.cols;
  a.regions.push_back(matrix_region("logits", b.first, c.rows, c.cols, c.in0.stride, c.in0.dtype, true));
  if (!top_k) a.regions.push_back(vector_region("seeds", b.second, c.rows, sizeof(std::uint64_t)));
  a.regions.push_back(as_output(vector_region(top_k ? "indices" : "tokens", b.classes, classes, sizeof(std::int64_t))));
  a.regions.push_back(optional(as_output(vector_region("log_probs", b.output, classes, sizeof(float)))));
  if (top_k) a.regions.push_back(optional(as_output(vector_region("lse", b.loss, c.rows, sizeof(float)))));
  add_softmax_options(c, a);
  add_selection_options(c, a);
  const softxent_softmax_options transform = softmax_options_of(c, b);
  const softxent_softmax_options* transform_ptr = c.transform.given() ? &transform : nullptr;
  const softxent_sampling_options options = sampling_options_of(c);
  const softxent_sampling_options* options_ptr = c.selection.options_mode == 0 ? nullptr : &options;
  const auto logits = matrix_of<softxent_const_matrix>(address(b, b.first), c.in0.dtype, c.in0.stride);
  const auto* seeds = reinterpret_cast<const std::uint64_t*>(address(b, b.second));
  auto* indices = reinterpret_cast<std::int64_t*>(address(b, b.classes));
  float* log_probs = float_at(b, b.output);
  float* lse = float_at(b, b.loss);
  return invoke(context, b, a, [&] {
    return top_k ? softxent_top_k(c.rows, c.cols, logits, transform_ptr, c.selection.k, indices, log_probs, lse,
                                  context.exec)
                 : softxent_sample(c.rows, c.cols, logits, transform_ptr, options_ptr, seeds, indices, log_probs,
                                   context.exec);
  });
}

// ---- the fused linear cross-entropy

// This build has a BLAS (softxent_linear_cross_entropy_workspace_size gives 0 for every shape without one).
bool have_blas() {
  static const bool blas = softxent_linear_cross_entropy_workspace_size(1, 1, 1, nullptr) != 0;
  return blas;
}

softxent_status call_linear(const fuzz_case& c, call_buffers& b, call_context& context) {
  const linear_case& l = c.linear;
  const std::size_t rows = c.rows, hidden = l.hidden, classes = c.cols;
  const std::size_t size = softxent_linear_cross_entropy_workspace_size(rows, hidden, classes, context.exec);
  const std::string prefix = std::string(context.who) + " linear_cross_entropy_workspace_size: ";
  if (size != softxent_linear_cross_entropy_workspace_size(rows, hidden, classes, nullptr))
    context.problems += prefix + "depends on the exec\n";
  if (size > (std::size_t{64} << 20)) context.problems += prefix + std::to_string(size) + " bytes, above 64 MiB\n";
  if (!have_blas() && size != 0) context.problems += prefix + std::to_string(size) + " bytes without a BLAS, not 0\n";
  call_arguments a;
  a.label = "linear_cross_entropy_f32";
  a.rows = rows;
  a.cols = hidden;
  a.bad_shape = classes == 0;
  a.regions.push_back(matrix_region("inputs", b.first, rows, hidden, c.in0.stride, SOFTXENT_F32, false));
  a.regions.push_back(matrix_region("weight", b.second, classes, hidden, c.in1.stride, SOFTXENT_F32, false));
  a.regions.push_back(optional(vector_region("bias", b.bias, classes, sizeof(float))));
  add_cross_entropy_options(c, classes, a);
  a.regions.push_back(as_output(vector_region("loss", b.loss, loss_count(c), sizeof(float))));
  a.regions.push_back(
      optional(as_output(matrix_region("grad_inputs", b.output, rows, hidden, b.output_stride, SOFTXENT_F32, false))));
  a.regions.push_back(optional(as_output(
      matrix_region("grad_weight", b.grad_weight, classes, hidden, l.grad_weight.stride, SOFTXENT_F32, false))));
  a.regions.push_back(optional(as_output(vector_region("grad_bias", b.grad_bias, classes, sizeof(float)))));
  argument_region workspace = optional(as_output(vector_region("workspace", b.workspace, b.workspace_size, 1)));
  workspace.scratch = true;
  a.regions.push_back(workspace);
  if (!have_blas()) a.options.add(true, SOFTXENT_ERROR_UNSUPPORTED_ISA);
  if (b.workspace.storage < 0 || b.workspace_size < size) a.options.add(rows > 0, SOFTXENT_ERROR_WORKSPACE);
  const softxent_cross_entropy_options options = cross_entropy_options_of(c, b);
  return invoke(context, b, a, [&] {
    return softxent_linear_cross_entropy_f32(
        rows, hidden, classes, float_at(b, b.first), c.in0.stride, float_at(b, b.second), c.in1.stride,
        float_at(b, b.bias), targets_of(c, b), c.options_null ? nullptr : &options, float_at(b, b.loss),
        float_at(b, b.output), b.output_stride, float_at(b, b.grad_weight), l.grad_weight.stride,
        float_at(b, b.grad_bias), address(b, b.workspace), b.workspace_size, context.exec);
  });
}

// ---------------------------------------------------------------------------------------------
// The operations' values against the oracle (after a successful run)

softxent_oracle::softmax_transform oracle_transform(const fuzz_case& c) {
  softxent_oracle::softmax_transform t;
  const transform_case& f = c.transform;
  if (!f.set()) return t;
  t.scale = f.scale;
  t.softcap = f.softcap;
  if (f.mask_kind != 0) {
    t.mask = f.mask_values.data();
    t.mask_rows = f.mask_rows;
    t.mask_stride = f.mask_stride;
  }
  t.rows_per_head = f.rows_per_head;
  t.slopes = f.slopes.empty() ? nullptr : f.slopes.data();
  t.sinks = f.sinks.empty() ? nullptr : f.sinks.data();
  t.valid_cols = f.valid_cols.empty() ? nullptr : f.valid_cols.data();
  return t;
}

std::string check_forward(const fuzz_case& c, const call_buffers& b, const char* who) {
  const matrix_in x{c.values0.data(), c.rows, c.cols, c.in0.stride};
  const softxent_oracle::softmax_transform t = oracle_transform(c);
  const std::string prefix = std::string(who) + " ";
  switch (c.op) {
    case op_logsumexp:
      return compare((prefix + "lse").c_str(), float_at(b, b.loss), c.rows, 1, 1,
                     softxent_oracle::expect_logsumexp(x, t));
    case op_softmax:
      return compare((prefix + "softmax").c_str(), address(b, b.output), c.out.dtype, c.rows, c.cols, b.output_stride,
                     softxent_oracle::expect_softmax(x, t));
    default:
      return compare((prefix + "log_softmax").c_str(), address(b, b.output), c.out.dtype, c.rows, c.cols,
                     b.output_stride, softxent_oracle::expect_log_softmax(x, t));
  }
}

std::string check_backward(const fuzz_case& c, const call_buffers& b, const char* who) {
  const matrix_in y{c.values0.data(), c.rows, c.cols, c.in0.stride}, dy{c.values1.data(), c.rows, c.cols, c.in1.stride};
  const auto want = c.op == op_softmax_backward ? softxent_oracle::expect_softmax_backward(y, dy)
                                                : softxent_oracle::expect_log_softmax_backward(y, dy);
  return compare((std::string(who) + " dx").c_str(), address(b, b.output), c.out.dtype, c.rows, c.cols,
                 b.output_stride, want);
}

// Cross-entropy, soft and sharded alike: the loss and the gradient of the whole rows.
std::string check_cross_entropy(const fuzz_case& c, const call_buffers& b, const char* who) {
  const matrix_in logits{c.values0.data(), c.rows, c.cols, c.in0.stride};
  const matrix_in probs{c.values1.data(), c.rows, c.cols, c.in1.stride};
  const bool soft = c.op == op_cross_entropy_soft;
  const softxent_oracle::cross_entropy_expectation e = softxent_oracle::expect_cross_entropy(
      logits, soft ? nullptr : c.targets.data(), soft ? &probs : nullptr, c.options_null ? nullptr : &c.options);
  const std::string prefix = std::string(who) + " ";
  std::string problems = compare((prefix + "loss").c_str(), float_at(b, b.loss), 1, e.loss.size(), e.loss.size(), e.loss);
  const int grad_type = c.op == op_cross_entropy_sharded ? SOFTXENT_F32 : c.out.dtype;
  if (c.with_grad)
    problems += compare((prefix + "grad").c_str(), address(b, b.output), grad_type, c.rows, c.cols, b.output_stride, e.grad);
  if (c.op == op_cross_entropy_sharded && c.alias != alias_in_place) {  // the unsharded call, to the same bounds
    const location loss{storage_unsharded, 0}, grad{storage_unsharded, loss_count(c) * sizeof(float)};
    problems += compare((prefix + "unsharded loss").c_str(), float_at(b, loss), 1, e.loss.size(), e.loss.size(), e.loss);
    if (c.with_grad)
      problems += compare((prefix + "unsharded grad").c_str(), float_at(b, grad), c.rows, c.cols, c.cols, e.grad);
  }
  return problems;
}

// Class problems of one output, described (the first few) and counted.
struct class_problems {
  std::ostringstream text;
  std::size_t count = 0;
  template <class... Parts>
  void add(const Parts&... parts) {
    if (count++ < 4) (text << ... << parts) << "\n";
  }
  std::string str(const std::string& what, std::size_t of) {
    if (count > 0) text << what << ": " << count << " of " << of << " wrong\n";
    return text.str();
  }
};

// Whether an output index is a class of the row not seen before in it; index: that class.
bool class_index(std::int64_t got, std::size_t cols, std::vector<bool>& seen, std::size_t& index) {
  if (got < 0 || static_cast<std::uint64_t>(got) >= cols || seen[static_cast<std::size_t>(got)]) return false;
  index = static_cast<std::size_t>(got);
  seen[index] = true;
  return true;
}

// Top-k: indices in the oracle's order (to the index unless the transform rounds z, then any class
// within the rounding width of the exact one), -1 for a poisoned row; log-probabilities and lse
// within the log_softmax and lse bounds.
std::string check_top_k(const fuzz_case& c, const call_buffers& b, const char* who) {
  const matrix_in x{c.values0.data(), c.rows, c.cols, c.in0.stride};
  const softxent_oracle::softmax_transform t = oracle_transform(c);
  const bool exact_order = !softxent_oracle::transform_rounds(t);
  const std::size_t k = c.selection.k, cols = c.cols;
  const auto* indices = reinterpret_cast<const std::int64_t*>(address(b, b.classes));
  const std::vector<softxent_oracle::expected> log_softmax = softxent_oracle::expect_log_softmax(x, t);
  std::vector<softxent_oracle::expected> log_probs(c.rows * k, {0, 0, true});
  const std::string prefix = std::string(who) + " top_k ";
  class_problems wrong;
  std::vector<softxent_oracle::real> z;
  for (std::size_t r = 0; r < c.rows; ++r) {
    const std::int64_t* row = indices + r * k;
    if (!softxent_oracle::transformed_logits(x, r, t, z)) {
      for (std::size_t i = 0; i < k; ++i) {
        if (row[i] != -1) wrong.add(prefix, "indices[", r, "][", i, "]: ", row[i], " in a row with NaN or +inf, not -1");
        log_probs[r * k + i] = {NAN, 0, false};
      }
      continue;
    }
    const softxent_oracle::row_facts f = softxent_oracle::facts_of(z);
    const std::vector<std::size_t> want = softxent_oracle::expected_top_k(z, k);
    std::vector<bool> seen(cols, false);
    for (std::size_t i = 0; i < k; ++i) {
      std::size_t got = 0;
      if (!class_index(row[i], cols, seen, got)) {
        wrong.add(prefix, "indices[", r, "][", i, "]: ", row[i], " is not a new class of the row (expected ", want[i], ")");
        continue;
      }
      log_probs[r * k + i] = log_softmax[r * cols + got];
      if (!softxent_oracle::top_k_place_allowed(z, f, got, want[i], exact_order))
        wrong.add(prefix, "indices[", r, "][", i, "]: ", got, " (z ", static_cast<double>(z[got]), "), expected ", want[i],
                  " (z ", static_cast<double>(z[want[i]]), ")");
    }
  }
  std::string problems = wrong.str(prefix + "indices", c.rows * k);
  if (b.output.storage >= 0)
    problems += compare((prefix + "log_probs").c_str(), float_at(b, b.output), c.rows, k, k, log_probs);
  if (b.loss.storage >= 0)
    problems += compare((prefix + "lse").c_str(), float_at(b, b.loss), c.rows, 1, 1,
                        softxent_oracle::expect_logsumexp(x, t));
  return problems;
}

// Sampling: each token one the oracle allows for the row's draw (exactly the oracle's unless rounding
// within the tolerances could change it; greedy: the argmax, ties by lower index), -1 with a NaN
// log-probability for a poisoned or all-masked row; the token's log-probability at the temperature
// (greedy: at 1), before filtering, within the log_softmax bound.
std::string check_sample(const fuzz_case& c, const call_buffers& b, const char* who) {
  const matrix_in x{c.values0.data(), c.rows, c.cols, c.in0.stride};
  const softxent_oracle::softmax_transform t = oracle_transform(c);
  const bool rounded = softxent_oracle::transform_rounds(t);
  const softxent_sampling_options o = sampling_options_of(c);
  softxent::sampling_options rules;
  rules.temperature = o.temperature;
  rules.top_k = o.top_k;
  rules.top_p = o.top_p;
  rules.min_p = o.min_p;
  rules.offset = o.offset;
  softxent_oracle::softmax_transform tempered = t;
  tempered.temperature = o.temperature == 0 ? 1.0f : o.temperature;
  const std::vector<softxent_oracle::expected> log_softmax = softxent_oracle::expect_log_softmax(x, tempered);
  const auto* tokens = reinterpret_cast<const std::int64_t*>(address(b, b.classes));
  std::vector<softxent_oracle::expected> log_probs(c.rows, {NAN, 0, false});
  const std::string prefix = std::string(who) + " sample ";
  class_problems wrong;
  std::vector<softxent_oracle::real> z;
  for (std::size_t r = 0; r < c.rows; ++r) {
    const std::int64_t got = tokens[r];
    const softxent_oracle::sample_expectation e =
        softxent_oracle::transformed_logits(x, r, t, z) ? softxent_oracle::expected_sample(z, rules, softxent_oracle::draw_of(c.selection.seeds[r], o.offset), rounded)
                              : softxent_oracle::sample_expectation{};
    if (e.token < 0) {
      if (got != -1) wrong.add(prefix, "tokens[", r, "]: ", got, " for a row with NaN, +inf or every class masked, not -1");
      continue;
    }
    if (!e.allows(got)) {
      std::ostringstream allowed;
      for (std::size_t i = 0; i < e.allowed.size() && i < 8; ++i) allowed << (i ? "," : "") << e.allowed[i];
      wrong.add(prefix, "tokens[", r, "]: ", got, ", expected ", e.token, e.ambiguous ? " (or one of " : "",
                e.ambiguous ? allowed.str() : "", e.ambiguous ? ")" : "", ", u = ",
                static_cast<double>(softxent_oracle::draw_of(c.selection.seeds[r], o.offset)));
    }
    log_probs[r] = got >= 0 && static_cast<std::uint64_t>(got) < c.cols ? log_softmax[r * c.cols + static_cast<std::size_t>(got)]
                                                                         : softxent_oracle::expected{0, 0, true};
  }
  std::string problems = wrong.str(prefix + "tokens", c.rows);
  if (b.output.storage >= 0)
    problems += compare((prefix + "log_probs").c_str(), float_at(b, b.output), c.rows, 1, 1, log_probs);
  return problems;
}

// The linear cross-entropy: the loss, grad_inputs, and grad_weight and grad_bias added to their start
// values, against the exact products' cross-entropy (a NULL gradient: its buffer keeps its bits,
// which invoke() checks).
std::string check_linear(const fuzz_case& c, const call_buffers& b, const char* who) {
  const linear_case& l = c.linear;
  const std::size_t hidden = l.hidden, classes = c.cols;
  const matrix_in inputs{c.values0.data(), c.rows, hidden, c.in0.stride};
  const matrix_in weight{c.values1.data(), classes, hidden, c.in1.stride};
  const bool grad_weight = b.grad_weight.storage >= 0;  // else its start values may not be a matrix
  const matrix_in start{grad_weight ? l.grad_weight_start.data() : nullptr, classes, hidden, l.grad_weight.stride};
  const auto e = softxent_oracle::expect_linear_cross_entropy(
      inputs, weight, l.bias_null ? nullptr : l.bias.data(), c.targets.data(), c.options_null ? nullptr : &c.options,
      start, l.grad_bias_start.data());
  const std::string prefix = std::string(who) + " linear ";
  std::string problems =
      compare((prefix + "loss").c_str(), float_at(b, b.loss), 1, e.loss.size(), e.loss.size(), e.loss);
  if (b.output.storage >= 0)
    problems += compare((prefix + "grad_inputs").c_str(), float_at(b, b.output), c.rows, hidden, b.output_stride,
                        e.grad_inputs);
  if (grad_weight)
    problems += compare((prefix + "grad_weight").c_str(), float_at(b, b.grad_weight), classes, hidden,
                        l.grad_weight.stride, e.grad_weight);
  if (b.grad_bias.storage >= 0)
    problems += compare((prefix + "grad_bias").c_str(), float_at(b, b.grad_bias), 1, classes, classes, e.grad_bias);
  return problems;
}

const operation_entry operations[op_count] = {
    {"logsumexp", trait_lse_output | trait_softmax_options, call_forward, check_forward},
    {"softmax", trait_matrix_output | trait_softmax_options, call_forward, check_forward},
    {"log_softmax", trait_matrix_output | trait_softmax_options, call_forward, check_forward},
    {"softmax_backward", trait_second_input | trait_matrix_output | trait_dx_may_be_dy, call_backward, check_backward},
    {"log_softmax_backward", trait_second_input | trait_matrix_output | trait_dx_may_be_dy, call_backward,
     check_backward},
    {"cross_entropy", trait_grad_output | trait_loss_output | trait_cross_entropy_options | trait_integer_targets,
     call_cross_entropy, check_cross_entropy},
    {"cross_entropy_soft", trait_second_input | trait_grad_output | trait_loss_output | trait_cross_entropy_options,
     call_cross_entropy, check_cross_entropy},
    {"cross_entropy_sharded",
     trait_grad_output | trait_loss_output | trait_cross_entropy_options | trait_integer_targets | trait_float_only,
     call_sharded, check_cross_entropy},
    {"top_k", trait_class_output | trait_lse_output | trait_softmax_options, call_selection, check_top_k},
    {"sample", trait_class_output | trait_seeds | trait_sampling_options | trait_softmax_options, call_selection,
     check_sample},
    {"linear_cross_entropy",
     trait_linear | trait_loss_output | trait_cross_entropy_options | trait_integer_targets | trait_float_only,
     call_linear, check_linear},
};


// ---------------------------------------------------------------------------------------------
// A case: the tested exec, the reference ISA, and reruns with other thread counts and pool groupings

std::string compare_output_bits(const fuzz_case& c, const call_buffers& a, const call_buffers& b, const char* what) {
  const std::vector<unsigned char> x = output_bytes(c, a), y = output_bytes(c, b);
  if (x == y) return "";
  std::size_t i = 0;
  while (i < x.size() && i < y.size() && x[i] == y[i]) ++i;
  return std::string(what) + ": output bytes differ from byte " + std::to_string(i) + " of " +
         std::to_string(x.size()) + "\n";
}

// The calls around the operations: softxent_isa names the ISA of a usable exec and gives NULL for
// an ISA error; softxent_status_string describes any value; softxent_version is MAJOR.MINOR.PATCH.
std::string check_helpers(const fuzz_case& c, const softxent_exec* exec, const status_expectation& exec_expected) {
  std::string problems;
  const char* isa = softxent_isa(exec);
  const bool isa_error = contains(exec_expected.definite, SOFTXENT_ERROR_UNSUPPORTED_ISA) ||
                         (exec != nullptr && !isa_known(exec->isa));
  if ((isa == nullptr) != isa_error)
    problems += std::string("softxent_isa gives ") + (isa ? isa : "NULL") + " for this exec\n";
  else if (isa != nullptr && (!isa_known(isa) || std::strcmp(isa, "auto") == 0))
    problems += std::string("softxent_isa names no instruction set: ") + isa + "\n";
  // (C++ cannot pass a value outside the enum's range, 0 to 7, without undefined behaviour.)
  const auto any = static_cast<softxent_status>(c.pool_seed % 8);
  if (softxent_status_string(any) == nullptr) problems += "softxent_status_string gave NULL\n";
  unsigned major = 0, minor = 0, patch = 0;
  char end = 0;
  const char* version = softxent_version();
  if (version == nullptr || std::sscanf(version, "%u.%u.%u%c", &major, &minor, &patch, &end) != 3)
    problems += "softxent_version is not MAJOR.MINOR.PATCH\n";
  return problems;
}

std::string run_case(const fuzz_case& c) {
  std::string problems;
  softxent_exec exec{};
  exec.threads = c.threads;
  exec.isa = c.isa;
  pool_state pool{c.pool_mode, c.pool_seed, 0};
  if (c.pool_mode != 0) {
    exec.parallel_for = fake_parallel_for;
    exec.pool = &pool;
  }
  const softxent_exec* exec_ptr = c.exec_null ? nullptr : &exec;
  const operation_entry& op = c.entry();

  call_buffers tested;
  make_buffers(c, tested);
  call_context tested_context{"tested", exec_ptr, c.pool_mode != 0 && !c.exec_null ? &pool : nullptr, true,
                              exec_errors(exec_ptr), ""};
  const softxent_status status = op.call(c, tested, tested_context);
  problems += tested_context.problems;
  problems += check_helpers(c, exec_ptr, tested_context.exec_expected);

  // The reference, with the same exec checks but the reference ISA.
  softxent_exec reference_exec{};
  reference_exec.threads = c.exec_null ? 0 : c.threads;
  reference_exec.isa = "reference";
  call_buffers reference;
  make_buffers(c, reference);
  call_context reference_context{"reference", &reference_exec, nullptr, true, exec_errors(&reference_exec), ""};
  const softxent_status reference_status = op.call(c, reference, reference_context);
  problems += reference_context.problems;
  const bool isa_error =
      !c.exec_null && (!isa_known(c.isa) || contains(tested_context.exec_expected.definite, SOFTXENT_ERROR_UNSUPPORTED_ISA));
  if (!isa_error && reference_status != status)
    problems += std::string("status ") + softxent_status_string(status) + " but the reference gives " +
                softxent_status_string(reference_status) + "\n";

  const bool values = c.rows > 0;  // rows == 0 writes nothing (invoke checks that)
  if (status == SOFTXENT_OK) {
    if (values) problems += op.check(c, tested, "tested");
    // Bitwise identical across thread counts and pool groupings (same ISA).
    softxent_exec other = exec;
    other.parallel_for = nullptr;
    other.pool = nullptr;
    other.threads = (c.threads == 1) ? 2 : 1;
    call_buffers again;
    make_buffers(c, again);
    call_context again_context{"threads changed:", c.exec_null ? nullptr : &other, nullptr, false, {}, ""};
    if (op.call(c, again, again_context) != SOFTXENT_OK) problems += "second run failed\n";
    else problems += compare_output_bits(c, tested, again, "threads changed the bits");
    problems += again_context.problems;
    if (!c.exec_null) {
      pool_state other_pool{c.pool_mode == 1 ? 2 : 1, c.pool_seed ^ 0x5555, 0};
      other.threads = 2;
      other.parallel_for = fake_parallel_for;
      other.pool = &other_pool;
      call_buffers pooled;
      make_buffers(c, pooled);
      call_context pooled_context{"pooled:", &other, &other_pool, false, {}, ""};
      if (op.call(c, pooled, pooled_context) != SOFTXENT_OK) problems += "pooled run failed\n";
      else problems += compare_output_bits(c, tested, pooled, "the pool's grouping changed the bits");
      problems += pooled_context.problems;
    }
  }
  if (reference_status == SOFTXENT_OK && values) problems += op.check(c, reference, "reference");
  return problems;
}

// Defects found by this fuzzer and reported, not fixed yet: their symptoms are tolerated (unless
// SOFTXENT_FUZZ_STRICT=1) so that fuzzing goes on finding new ones. Remove an entry when its fix
// lands (and give the fix a regression test in tests/reliability/test_regressions.cpp).
struct known_defect {
  const char* name;
  const char* symptom_prefix;  // the problem lines it explains: those starting with this
  const char* symptom_part;    // and holding this (nullptr: any)
  bool (*applies)(const fuzz_case& c);
};

// Some finite logit of the rows leaves the float range under the softmax transform: scale * x, or
// z + slope * mask (exactly).
bool transformed_logit_overflows(const fuzz_case& c) {
  const transform_case& t = c.transform;
  if (!t.set()) return false;
  for (std::size_t r = 0; r < c.rows; ++r) {
    const std::size_t head = t.rows_per_head == 0 ? 0 : r / t.rows_per_head;
    const long double slope = t.slopes.empty() ? 1 : t.slopes[std::min(head, t.slopes.size() - 1)];
    for (std::size_t j = 0; j < c.cols; ++j) {
      const float x = c.values0[r * c.in0.stride + j];
      if (!std::isfinite(x)) continue;
      long double z = static_cast<long double>(t.scale) * x;
      if (std::fabs(z) > float_max) return true;
      if (t.softcap != 0) z = t.softcap * std::tanh(z / t.softcap);
      if (t.mask_kind != 0 && t.mask_rows > 0) {
        const float m = t.mask_values[(r % t.mask_rows) * t.mask_stride + j];
        if (std::isfinite(m) && std::fabs(z + slope * m) > float_max) return true;
      }
    }
  }
  return false;
}

// Open defects whose symptoms the checker tolerates (SOFTXENT_FUZZ_STRICT=1 reports them too); fixed
// ones leave this list for a case in test_regressions.cpp.
const std::vector<known_defect> known_defects = {
    // The SIMD tables compute the softmax transform's z in float: scale * x is clamped to
    // +-FLT_MAX (log_softmax of {FLT_MAX, 1.68} at scale 2 gives {0, -FLT_MAX} and lse FLT_MAX where
    // the exact z {6.8e38, 3.37} give -inf and +inf, as the reference does), and z + slope * mask
    // beyond FLT_MAX becomes +inf, which makes the row NaN (the exact lse is +inf, softmax finite).
    {"transformed logit beyond FLT_MAX", "tested ", nullptr, transformed_logit_overflows},
    // The SIMD tables' shard statistics of a row with NaN hold max = the largest other logit, not
    // NaN as softxent.h documents (sum_exp is NaN, so the loss is still NaN); the reference gives NaN.
    {"shard max of a NaN row", "tested shard_stats[", "for a row with NaN or +inf", [](const fuzz_case&) { return true; }},
};

// Drops the problem lines a known defect explains; "" when nothing else is left.
std::string without_known_defects(const fuzz_case& c, const std::string& problems) {
  const char* strict = std::getenv("SOFTXENT_FUZZ_STRICT");
  if ((strict != nullptr && strict[0] == '1') || c.has(trait_linear)) return problems;  // none applies to it
  std::istringstream lines(problems);
  std::string line, kept;
  while (std::getline(lines, line)) {
    bool explained = false;
    for (const known_defect& d : known_defects)
      explained = explained || (line.rfind(d.symptom_prefix, 0) == 0 &&
                                (d.symptom_part == nullptr || line.find(d.symptom_part) != std::string::npos) &&
                                d.applies(c));
    if (!explained) kept += line + "\n";
  }
  return kept;
}

// One matrix of decoded values, row by row.
void dump_matrix(std::ostringstream& s, const char* name, const std::vector<float>& v, std::size_t rows,
                 std::size_t cols, std::size_t stride) {
  if (v.empty()) return;
  for (std::size_t r = 0; r < rows; ++r) {
    s << name << "[" << r << "] =";
    for (std::size_t col = 0; col < cols; ++col) s << " " << v[r * stride + col];
    s << "\n";
  }
}
template <class T>
void dump_vector(std::ostringstream& s, const char* name, const std::vector<T>& v) {
  if (v.empty()) return;
  s << name << " =";
  for (const T& value : v) s << " " << value;
  s << "\n";
}

}  // namespace

const operation_entry& operation_of(int op) { return operations[op]; }

std::string describe_case(const std::uint8_t* data, std::size_t size) { return describe(parse(data, size)); }

std::string dump_case(const std::uint8_t* data, std::size_t size) {
  const fuzz_case c = parse(data, size);
  std::ostringstream s;
  s.precision(9);
  s << describe(c) << "\n";
  if (c.in0.overflow || c.in1.overflow || c.out.overflow) return s.str();
  if (c.has(trait_linear)) {
    if (c.linear.grad_weight.overflow) return s.str();
    dump_matrix(s, "inputs", c.values0, c.rows, c.linear.hidden, c.in0.stride);
    dump_matrix(s, "weight", c.values1, c.cols, c.linear.hidden, c.in1.stride);
    dump_vector(s, "bias", c.linear.bias);
    dump_matrix(s, "grad_weight start", c.linear.grad_weight_start, c.cols, c.linear.hidden, c.linear.grad_weight.stride);
    dump_vector(s, "grad_bias start", c.linear.grad_bias_start);
    dump_vector(s, "targets", c.targets);
    dump_vector(s, "weights", c.weights);
    return s.str();
  }
  dump_matrix(s, "first", c.values0, c.rows, c.cols, c.in0.stride);
  dump_matrix(s, "second", c.values1, c.rows, c.cols, c.in1.stride);
  dump_vector(s, "weights", c.weights);
  dump_matrix(s, "mask", c.transform.mask_values, c.transform.mask_rows, c.cols, c.transform.mask_stride);
  dump_vector(s, "slopes", c.transform.slopes);
  dump_vector(s, "sinks", c.transform.sinks);
  dump_vector(s, "valid_cols", c.transform.valid_cols);
  dump_vector(s, "seeds", c.selection.seeds);
  return s.str();
}

std::string check_case(const std::uint8_t* data, std::size_t size) {
  const fuzz_case c = parse(data, size);
  std::string problems = without_known_defects(c, run_case(c));
  if (problems.empty()) return problems;
  return "case: " + describe(c) + "\n" + problems;
}

}  // namespace softxent_fuzz
