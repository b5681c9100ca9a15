// The scalar reference: every operation in plain C++ with double arithmetic, one whole row at a time,
// no SIMD and no threads. It is the ISA "reference", what every kernel is tested and benchmarked
// against. Clarity wins over speed here.
#include <cmath>
#include <cstddef>
#include <limits>

#include "kernel_table.hpp"
#include "kernels/convert.hpp"
#include "select_table.hpp"

namespace softxent::detail {
namespace {

constexpr double infinity = std::numeric_limits<double>::infinity();

// max_j x_j and sum_j exp(x_j - max), in double. A NaN or +inf anywhere makes the sum NaN; an
// all -inf row has max -inf and sum 0.
struct row_summary {
  double max;
  double sum_exp;
};

// value(j) gives the row's j-th logit as a double.
template <class Value>
row_summary summarize_values(std::size_t n, const Value& value) {
  double max = -infinity;
  bool poisoned = false;
  for (std::size_t j = 0; j < n; ++j) {
    const double v = value(j);
    if (std::isnan(v) || v == infinity) poisoned = true;
    if (v > max) max = v;
  }
  if (poisoned) return {std::nan(""), std::nan("")};
  if (max == -infinity) return {max, 0.0};
  double sum = 0.0;
  for (std::size_t j = 0; j < n; ++j) sum += std::exp(value(j) - max);
  return {max, sum};
}

row_summary summarize(const float* x, std::size_t n) {
  return summarize_values(n, [&](std::size_t j) { return static_cast<double>(x[j]); });
}

// Cross-entropy's logit transform in double: z = softcap * tanh(scale * x / softcap), or scale * x
// held within +-FLT_MAX (as softxent.h states and the float kernels do); an infinite or NaN logit is
// left as it is. Its derivative is scale * (1 - tanh^2), or scale.
double transformed(float x, float scale, float softcap) {
  const double v = static_cast<double>(x);
  if (!std::isfinite(v)) return v;
  const double scaled = static_cast<double>(scale) * v;
  if (softcap == 0.0f) {
    constexpr double largest = static_cast<double>(std::numeric_limits<float>::max());
    return std::fmax(-largest, std::fmin(largest, scaled));
  }
  return static_cast<double>(softcap) * std::tanh(scaled / static_cast<double>(softcap));
}
double transform_derivative(float x, float scale, float softcap) {
  const double v = static_cast<double>(x);
  if (!std::isfinite(v) || softcap == 0.0f) return static_cast<double>(scale);
  const double t = std::tanh(static_cast<double>(scale) * v / static_cast<double>(softcap));
  return static_cast<double>(scale) * (1.0 - t * t);
}

double lse_of(const row_summary& s) { return s.sum_exp == 0.0 ? -infinity : s.max + std::log(s.sum_exp); }

double decoded(const void* base, dtype type, std::size_t j) {
  if (type == dtype::f16) return f16_to_float(static_cast<const std::uint16_t*>(base)[j]);
  if (type == dtype::bf16) return bf16_to_float(static_cast<const std::uint16_t*>(base)[j]);
  return static_cast<const float*>(base)[j];
}

// z_j of a row, exactly (in double) from the decoded inputs, in SPEC.md's order.
double row_logit(const row_load& row, std::size_t j) {
  if (j >= row.valid_cols) return -infinity;
  const double x = decoded(row.x, row.x_type, j);
  double z = x;
  if (std::isfinite(x)) {
    z = static_cast<double>(row.scale) * x;
    if (row.softcap != 0.0f) z = static_cast<double>(row.softcap) * std::tanh(z / static_cast<double>(row.softcap));
  }
  if (row.mask != nullptr) {
    const double m = decoded(row.mask, row.mask_type, j);
    z = m == -infinity ? -infinity : z + static_cast<double>(row.slope) * m;
  }
  return z;
}

void store_rounded(void* y, dtype type, std::size_t j, double v) {
  const auto f = static_cast<float>(v);
  if (type == dtype::f16) static_cast<std::uint16_t*>(y)[j] = float_to_f16(f);
  else if (type == dtype::bf16) static_cast<std::uint16_t*>(y)[j] = float_to_bf16(f);
  else static_cast<float*>(y)[j] = f;
}


void logsumexp_rows(std::size_t rows, std::size_t cols, const float* x, std::size_t x_stride, float* lse,
                    const float*) {
  for (std::size_t r = 0; r < rows; ++r) lse[r] = static_cast<float>(lse_of(summarize(x + r * x_stride, cols)));
}

void softmax_rows(std::size_t rows, std::size_t cols, const float* x, std::size_t x_stride, float* y,
                  std::size_t y_stride, const float*) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * x_stride;
    float* yr = y + r * y_stride;
    const row_summary s = summarize(xr, cols);
    for (std::size_t j = 0; j < cols; ++j) {
      const double p = s.sum_exp == 0.0 ? 0.0 : std::exp(static_cast<double>(xr[j]) - s.max) / s.sum_exp;
      yr[j] = static_cast<float>(p);
    }
  }
}

void log_softmax_rows(std::size_t rows, std::size_t cols, const float* x, std::size_t x_stride, float* y,
                      std::size_t y_stride, const float*) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * x_stride;
    float* yr = y + r * y_stride;
    const row_summary s = summarize(xr, cols);
    for (std::size_t j = 0; j < cols; ++j) {
      const double v = s.sum_exp == 0.0 ? -infinity : (static_cast<double>(xr[j]) - s.max) - std::log(s.sum_exp);
      yr[j] = static_cast<float>(v);
    }
  }
}

void softmax_backward_rows(std::size_t rows, std::size_t cols, const float* y, std::size_t y_stride,
                           const float* dy, std::size_t dy_stride, float* dx, std::size_t dx_stride, const float*,
                           const float*) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* yr = y + r * y_stride;
    const float* dyr = dy + r * dy_stride;
    float* dxr = dx + r * dx_stride;
    double dot = 0.0;
    for (std::size_t j = 0; j < cols; ++j) dot += static_cast<double>(dyr[j]) * yr[j];
    for (std::size_t j = 0; j < cols; ++j) dxr[j] = static_cast<float>(yr[j] * (dyr[j] - dot));
  }
}

void log_softmax_backward_rows(std::size_t rows, std::size_t cols, const float* y, std::size_t y_stride,
                               const float* dy, std::size_t dy_stride, float* dx, std::size_t dx_stride,
                               const float*, const float*) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* yr = y + r * y_stride;
    const float* dyr = dy + r * dy_stride;
    float* dxr = dx + r * dx_stride;
    double sum = 0.0;
    for (std::size_t j = 0; j < cols; ++j) sum += dyr[j];
    for (std::size_t j = 0; j < cols; ++j) dxr[j] = static_cast<float>(dyr[j] - std::exp(static_cast<double>(yr[j])) * sum);
  }
}

// Cross-entropy of rows of any dtypes, in the textbook form: with z_j the transformed logits,
// log-probabilities lp_j = z_j - lse and target coefficients y_j, loss = -sum_j y_j lp_j (terms with
// y_j == 0 skipped, so a masked class that gets no weight costs nothing), and the gradient of
// s * loss + s_z * z * lse^2 with respect to x_j is (s * (y_sum * p_j - y_j) + s_z * 2 * z * lse * p_j) * dz_j/dx_j.
void cross_entropy_rows_typed(const cross_entropy_block& b, const typed_rows& logits, const typed_rows& probs,
                              const typed_rows& grad) {
  const auto row_of = [](const typed_rows& m, std::size_t r) {
    return static_cast<const unsigned char*>(m.data) + r * m.stride * (m.type == dtype::f32 ? 4 : 2);
  };
  for (std::size_t r = 0; r < b.rows; ++r) {
    const void* x = row_of(logits, r);
    void* g = grad.data ? const_cast<unsigned char*>(row_of(grad, r)) : nullptr;
    const bool hard = b.targets != nullptr;
    if (hard && b.targets[r] == b.ignore_index) {
      b.row_loss[r] = 0.0;
      b.row_lse[r] = 0.0;
      if (g) for (std::size_t j = 0; j < b.cols; ++j) store_rounded(g, grad.type, j, 0.0);
      continue;
    }
    const std::size_t target = hard ? static_cast<std::size_t>(b.targets[r]) : 0;
    const void* q = hard ? nullptr : row_of(probs, r);
    const double ls = b.label_smoothing;
    const double n = static_cast<double>(b.cols);
    const auto weight = [&](std::size_t j) { return b.class_weights ? static_cast<double>(b.class_weights[j]) : 1.0; };
    const auto coefficient = [&](std::size_t j) {
      if (hard) return weight(j) * (ls / n) + (j == target ? (1.0 - ls) * weight(target) : 0.0);
      return weight(j) * ((1.0 - ls) * decoded(q, probs.type, j) + ls / n);
    };
    const auto z = [&](std::size_t j) {
      return transformed(static_cast<float>(decoded(x, logits.type, j)), b.logit_scale, b.softcap);
    };

    const row_summary s = summarize_values(b.cols, z);
    const double lse = lse_of(s);
    double loss = 0.0, y_sum = 0.0;
    for (std::size_t j = 0; j < b.cols; ++j) {
      const double y = coefficient(j);
      y_sum += y;
      if (y != 0.0) loss += y * (lse - z(j));
    }
    if (s.sum_exp == 0.0) loss = y_sum > 0.0 ? infinity : 0.0;  // all masked: -inf - -inf is not NaN here
    if (std::isnan(lse)) loss = lse;  // NaN or +inf in the row: its loss is NaN, whatever the weights
    b.row_loss[r] = loss;
    b.row_lse[r] = lse;
    if (!g) continue;
    const double z_term = b.z_loss != 0.0f ? b.z_grad_scale * 2.0 * static_cast<double>(b.z_loss) * lse : 0.0;
    // grad may be the logits buffer itself: each g[j] is written after its own x[j] is read, and
    // everything else about the row was read above.
    for (std::size_t j = 0; j < b.cols; ++j) {
      const double pj = s.sum_exp == 0.0 ? 0.0 : std::exp(z(j) - s.max) / s.sum_exp;
      const double pj_weight = pj == 0.0 ? 0.0 : pj * (b.grad_scale * y_sum + z_term);
      const double dz = transform_derivative(static_cast<float>(decoded(x, logits.type, j)), b.logit_scale, b.softcap);
      store_rounded(g, grad.type, j, (pj_weight - b.grad_scale * coefficient(j)) * dz);
    }
  }
}

void cross_entropy_rows(const cross_entropy_block& b) {
  cross_entropy_rows_typed(b, {b.logits, dtype::f32, b.logits_stride}, {b.target_probs, dtype::f32, b.target_stride},
                           {b.grad, dtype::f32, b.grad_stride});
}

const kernel_table table = {
    "reference",
    logsumexp_rows,
    softmax_rows,
    log_softmax_rows,
    softmax_backward_rows,
    log_softmax_backward_rows,
    cross_entropy_rows,
    nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
    nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
};

}  // namespace

const kernel_table* reference_table() noexcept { return &table; }

void reference_cross_entropy_rows(const cross_entropy_block& b, const typed_rows& logits, const typed_rows& probs,
                                  const typed_rows& grad) noexcept {
  cross_entropy_rows_typed(b, logits, probs, grad);
}

reference_row_stats reference_shard_stats(const float* x, std::size_t n, float scale, float softcap,
                                          const float* weights) noexcept {
  const auto z = [&](std::size_t j) { return transformed(x[j], scale, softcap); };
  const row_summary s = summarize_values(n, z);
  double weighted = 0.0;
  for (std::size_t j = 0; j < n; ++j) {
    const double w = weights ? static_cast<double>(weights[j]) : 1.0;
    if (w != 0.0) weighted += w * z(j);
  }
  return {s.max, s.sum_exp, weighted};
}

double reference_transformed_logit(float x, float scale, float softcap) noexcept {
  return transformed(x, scale, softcap);
}

void reference_shard_gradient(const float* x, std::size_t n, float scale, float softcap, double p_factor, double shift,
                              double y_scale, const float* weights, double smooth, std::size_t target,
                              double target_coefficient, float* grad) noexcept {
  for (std::size_t j = 0; j < n; ++j) {
    const double z = transformed(x[j], scale, softcap);
    const double e = p_factor == 0.0 ? 0.0 : std::exp(z - shift);
    const double y = (weights ? static_cast<double>(weights[j]) : 1.0) * smooth + (j == target ? target_coefficient : 0.0);
    grad[j] = static_cast<float>((p_factor * e - y_scale * y) * transform_derivative(x[j], scale, softcap));
  }
}


namespace {

// The transformed row's summary, the sink joining the normalizer.
row_summary summarize_row(const row_load& row, std::size_t cols, const float* sink) {
  row_summary s = summarize_values(cols, [&](std::size_t j) { return row_logit(row, j); });
  if (sink != nullptr && !std::isnan(s.max)) {
    // Rebase the sum on the larger of the two maxima.
    const double sink_value = *sink;
    const double max = s.max > sink_value ? s.max : sink_value;
    s.sum_exp = (s.sum_exp == 0.0 ? 0.0 : s.sum_exp * std::exp(s.max - max)) + std::exp(sink_value - max);
    s.max = max;
  }
  return s;
}

}  // namespace

double reference_logit(const row_load& row, std::size_t j) noexcept { return row_logit(row, j); }

double reference_lse(const row_load& row, std::size_t cols, const float* sink) noexcept {
  return lse_of(summarize_row(row, cols, sink));
}

void reference_forward_row(const row_load& row, std::size_t cols, const float* sink, bool log_space, float* lse,
                           void* y, dtype y_type) noexcept {
  const auto z = [&](std::size_t j) { return row_logit(row, j); };
  const row_summary s = summarize_row(row, cols, sink);
  const double row_lse = lse_of(s);
  if (lse != nullptr) *lse = static_cast<float>(row_lse);
  if (y == nullptr) return;
  for (std::size_t j = 0; j < cols; ++j) {
    const double zj = z(j);
    if (log_space) {
      store_rounded(y, y_type, j, s.sum_exp == 0.0 ? -infinity : (zj - s.max) - std::log(s.sum_exp));
    } else {
      store_rounded(y, y_type, j, s.sum_exp == 0.0 ? 0.0 : std::exp(zj - s.max) / s.sum_exp);
    }
  }
}

void reference_backward_row(const void* y, dtype y_type, const void* dy, dtype dy_type, void* dx, dtype dx_type,
                            std::size_t cols, bool log_space) noexcept {
  double reduced = 0.0;  // softmax: sum_j dy_j y_j; log_softmax: sum_j dy_j
  for (std::size_t j = 0; j < cols; ++j) reduced += decoded(dy, dy_type, j) * (log_space ? 1.0 : decoded(y, y_type, j));
  // dx may be y or dy: each dx_j is written after its own y_j and dy_j are read.
  for (std::size_t j = 0; j < cols; ++j) {
    const double yj = decoded(y, y_type, j), dyj = decoded(dy, dy_type, j);
    store_rounded(dx, dx_type, j, log_space ? dyj - std::exp(yj) * reduced : yj * (dyj - reduced));
  }
}

}  // namespace softxent::detail
