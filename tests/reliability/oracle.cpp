// SPEC.md's formulas in long double, and its error bounds (see oracle.hpp).
#include "oracle.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

namespace softxent_reliability {
namespace {

using real = long double;
constexpr real eps = 1.0L / 8388608.0L;  // 2^-23
constexpr real infinity = std::numeric_limits<real>::infinity();
constexpr real not_a_number = std::numeric_limits<real>::quiet_NaN();

expected exactly(real value) { return {value, 0, false}; }

// What one row's forward pass needs: m = max, s = sum exp(x_j - m), and whether a NaN or +inf
// poisons the row (SPEC: all its forward outputs are NaN).
struct row_summary {
  real max = -infinity;
  real sum = 0;
  bool poisoned = false;
  bool all_masked() const { return max == -infinity; }
  real lse() const { return all_masked() ? -infinity : max + std::log(sum); }
  // exp(x - lse) without forming lse: exact even when |lse| is near FLT_MAX.
  real probability(real x) const { return x == -infinity ? 0 : std::exp(x - max) / sum; }
  real log_probability(real x) const { return x == -infinity ? -infinity : (x - max) - std::log(sum); }
};

row_summary summarize(const matrix_in& x, std::size_t r) {
  row_summary s;
  for (std::size_t c = 0; c < x.cols; ++c) {
    const real v = x.at(r, c);
    if (std::isnan(v) || v == infinity) s.poisoned = true;
    else if (v > s.max) s.max = v;
  }
  if (!s.poisoned && !s.all_masked()) {
    for (std::size_t c = 0; c < x.cols; ++c) {
      const real v = x.at(r, c);
      if (v != -infinity) s.sum += std::exp(v - s.max);
    }
  }
  return s;
}

// SPEC: softmax relative error (8 + |x_j - m|) * eps; below 1e-30 at least 1e-37 absolute.
real probability_bound(const row_summary& s, real x, real p) {
  if (x == -infinity) return 0;  // masked classes get exactly 0
  const real bound = (8 + std::fabs(x - s.max)) * eps * p;
  return p < 1e-30L ? std::fmax(bound, 1e-37L) : bound;
}
// SPEC: log_softmax absolute error (8 + |x_j - m|) * eps + 8 * eps * |lse|.
real log_probability_bound(const row_summary& s, real x) {
  if (x == -infinity) return 0;
  return (8 + std::fabs(x - s.max)) * eps + 8 * eps * std::fabs(s.lse());
}
real lse_bound(const row_summary& s) { return 8 * eps * (1 + std::fabs(s.lse())); }

// The backward operations follow their formulas in IEEE arithmetic: where the exact result is not
// finite (an infinity or NaN among the inputs), float evaluation may give inf or NaN depending on the
// order of operations (inf - inf, 0 * inf after an underflow): any non-finite value is accepted there.
expected backward_expectation(real value, real tolerance) {
  if (!std::isfinite(value)) return {value, 0, false, true};
  return {value, tolerance, false};
}

}  // namespace

bool acceptable(float got, const expected& e) noexcept {
  if (e.any_value) return true;
  if (e.any_non_finite) return !std::isfinite(got);
  if (std::isnan(e.value)) return std::isnan(got);
  if (std::isnan(got)) return false;
  if (got == static_cast<float>(e.value)) return true;
  if (std::isinf(got) || std::isinf(e.value)) return false;
  return std::fabs(static_cast<real>(got) - e.value) <= e.tolerance;
}

std::vector<expected> expect_logsumexp(const matrix_in& x) {
  std::vector<expected> out(x.rows);
  for (std::size_t r = 0; r < x.rows; ++r) {
    const row_summary s = summarize(x, r);
    if (s.poisoned) out[r] = exactly(not_a_number);
    else if (s.all_masked()) out[r] = exactly(-infinity);
    else out[r] = {s.lse(), lse_bound(s), false};
  }
  return out;
}

std::vector<expected> expect_softmax(const matrix_in& x) {
  std::vector<expected> out(x.rows * x.cols);
  for (std::size_t r = 0; r < x.rows; ++r) {
    const row_summary s = summarize(x, r);
    for (std::size_t c = 0; c < x.cols; ++c) {
      expected& e = out[r * x.cols + c];
      if (s.poisoned) e = exactly(not_a_number);
      else if (s.all_masked()) e = exactly(0);
      else {
        const real p = s.probability(x.at(r, c));
        e = {p, probability_bound(s, x.at(r, c), p), false};
      }
    }
  }
  return out;
}

std::vector<expected> expect_log_softmax(const matrix_in& x) {
  std::vector<expected> out(x.rows * x.cols);
  for (std::size_t r = 0; r < x.rows; ++r) {
    const row_summary s = summarize(x, r);
    for (std::size_t c = 0; c < x.cols; ++c) {
      expected& e = out[r * x.cols + c];
      if (s.poisoned) e = exactly(not_a_number);
      else if (s.all_masked()) e = exactly(-infinity);
      else e = {s.log_probability(x.at(r, c)), log_probability_bound(s, x.at(r, c)), false};
    }
  }
  return out;
}

std::vector<expected> expect_softmax_backward(const matrix_in& y, const matrix_in& dy) {
  std::vector<expected> out(y.rows * y.cols);
  for (std::size_t r = 0; r < y.rows; ++r) {
    real dot = 0, dot_magnitude = 0;
    for (std::size_t c = 0; c < y.cols; ++c) {
      const real term = static_cast<real>(dy.at(r, c)) * y.at(r, c);
      dot += term;
      dot_magnitude += std::fabs(term);
    }
    for (std::size_t c = 0; c < y.cols; ++c) {
      const real yj = y.at(r, c), dyj = dy.at(r, c);
      const real value = yj * (dyj - dot);
      out[r * y.cols + c] = backward_expectation(value, 8 * eps * std::fabs(yj) * (std::fabs(dyj) + dot_magnitude) + 1e-37L);
    }
  }
  return out;
}

std::vector<expected> expect_log_softmax_backward(const matrix_in& y, const matrix_in& dy) {
  std::vector<expected> out(y.rows * y.cols);
  for (std::size_t r = 0; r < y.rows; ++r) {
    real sum = 0, sum_magnitude = 0;
    for (std::size_t c = 0; c < y.cols; ++c) {
      sum += dy.at(r, c);
      sum_magnitude += std::fabs(static_cast<real>(dy.at(r, c)));
    }
    for (std::size_t c = 0; c < y.cols; ++c) {
      const real yj = y.at(r, c), dyj = dy.at(r, c);
      expected& e = out[r * y.cols + c];
      if (yj == -infinity) {
        // SPEC: a masked class gets dx = dy. With a non-finite sum IEEE gives 0 * inf = NaN: either is
        // a reading of the contract.
        e = std::isfinite(sum) ? exactly(dyj) : expected{0, 0, true};
        continue;
      }
      const real p = std::exp(yj);
      e = backward_expectation(dyj - p * sum, 8 * eps * (std::fabs(dyj) + p * sum_magnitude) + 1e-37L);
    }
  }
  return out;
}

cross_entropy_expectation expect_cross_entropy(const matrix_in& logits, const std::int64_t* targets,
                                               const matrix_in* probs,
                                               const softxent_cross_entropy_options* options) {
  softxent_cross_entropy_options o;
  softxent_cross_entropy_options_init(&o);
  if (options != nullptr) o = *options;
  const std::size_t rows = logits.rows, cols = logits.cols;
  const real smoothing = o.label_smoothing, z = o.z_loss;
  auto weight = [&](std::size_t c) -> real { return o.class_weights ? o.class_weights[c] : 1; };

  struct row_result {
    bool counted = false;
    real denominator_weight = 0;  // this row's share of MEAN's denominator
    real loss = 0, loss_tolerance = 0;
    real z_term = 0, z_tolerance = 0;
    row_summary summary;
    std::vector<real> coefficient;  // y_j
    real coefficient_sum = 0;       // Y = sum_j y_j
  };
  std::vector<row_result> results(rows);
  real denominator = 0;
  std::size_t counted_rows = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    row_result& row = results[r];
    std::size_t target = 0;
    if (targets != nullptr) {
      if (targets[r] == o.ignore_index) continue;
      target = static_cast<std::size_t>(targets[r]);
      row.denominator_weight = weight(target);
    } else {
      row.denominator_weight = 1;
    }
    row.counted = true;
    ++counted_rows;
    denominator += row.denominator_weight;
    row.summary = summarize(logits, r);
    row.coefficient.assign(cols, 0);
    for (std::size_t c = 0; c < cols; ++c) {
      real y = 0;
      if (targets != nullptr) {
        y = smoothing / static_cast<real>(cols) * weight(c);
        if (c == target) y += (1 - smoothing) * weight(c);
      } else {
        y = weight(c) * ((1 - smoothing) * static_cast<real>(probs->at(r, c)) + smoothing / static_cast<real>(cols));
      }
      row.coefficient[c] = y;
      row.coefficient_sum += y;
    }
    const row_summary& s = row.summary;
    if (s.poisoned) {
      row.loss = not_a_number;
      row.z_term = z > 0 ? not_a_number : 0;
      continue;
    }
    // loss = -sum_j y_j log p_j; a zero coefficient contributes 0 even on a masked class.
    for (std::size_t c = 0; c < cols; ++c) {
      const real y = row.coefficient[c];
      if (y == 0) continue;
      const real x = logits.at(r, c);
      const real log_p = s.all_masked() ? -infinity : s.log_probability(x);
      row.loss -= y * log_p;
      if (x != -infinity && !s.all_masked()) row.loss_tolerance += std::fabs(y) * log_probability_bound(s, x);
    }
    if (z > 0) {
      const real lse = s.lse();
      row.z_term = z * lse * lse;
      row.z_tolerance = z * (2 * std::fabs(lse) * lse_bound(s) + lse * lse * 4 * eps);
    }
  }

  cross_entropy_expectation out;
  real loss_scale = 1, z_scale = 1;
  bool all_zero = false;
  if (o.reduction == SOFTXENT_REDUCTION_MEAN) {
    if (counted_rows == 0 || denominator == 0) all_zero = true;
    else {
      loss_scale = 1 / denominator;
      z_scale = 1 / static_cast<real>(counted_rows);
    }
  }

  // Loss.
  if (o.reduction == SOFTXENT_REDUCTION_NONE) {
    out.loss.resize(rows);
    for (std::size_t r = 0; r < rows; ++r) {
      const row_result& row = results[r];
      const real value = row.loss + row.z_term;
      out.loss[r] = {value, row.loss_tolerance + row.z_tolerance + eps * std::fabs(value) + 1e-37L, false};
    }
  } else if (all_zero) {
    out.loss.push_back(exactly(0));
  } else {
    real total = 0, tolerance = 0, magnitude = 0;
    for (const row_result& row : results) {
      total += loss_scale * row.loss + z_scale * row.z_term;
      tolerance += loss_scale * row.loss_tolerance + z_scale * row.z_tolerance;
      magnitude += std::fabs(loss_scale * row.loss) + std::fabs(z_scale * row.z_term);
    }
    // SPEC: the batch reduction adds at most 8 eps relative error; then one float rounding.
    out.loss.push_back({total, tolerance + 8 * eps * magnitude + eps * std::fabs(total) + 1e-37L, false});
  }

  // Gradient: s * (Y p_j - y_j) + z_s * 2 z lse p_j; zero rows for ignored rows.
  out.grad.assign(rows * cols, exactly(0));
  if (all_zero) return out;
  for (std::size_t r = 0; r < rows; ++r) {
    const row_result& row = results[r];
    if (!row.counted) continue;
    const row_summary& s = row.summary;
    const real lse = s.lse();
    for (std::size_t c = 0; c < cols; ++c) {
      expected& e = out.grad[r * cols + c];
      if (s.poisoned) {
        e = exactly(not_a_number);
        continue;
      }
      const real x = logits.at(r, c);
      const real p = s.all_masked() ? 0 : s.probability(x);
      const real y = row.coefficient[c], sum_y = row.coefficient_sum;
      const real p_bound = s.all_masked() ? 0 : probability_bound(s, x, p);
      real value = loss_scale * (sum_y * p - y);
      real tolerance = std::fabs(loss_scale) * (std::fabs(sum_y) * p_bound + 8 * eps * (std::fabs(sum_y) * p + std::fabs(y)));
      if (z > 0 && p != 0) {
        value += z_scale * 2 * z * lse * p;
        tolerance += z_scale * 2 * z * (std::fabs(lse) * (p_bound + 4 * eps * p) + p * lse_bound(s));
      }
      e = {value, tolerance + eps * std::fabs(value) + 1e-37L, false};
    }
  }
  return out;
}

std::string compare(const char* what, const float* got, std::size_t rows, std::size_t cols, std::size_t stride,
                    const std::vector<expected>& want) {
  std::ostringstream message;
  message.precision(9);
  int shown = 0;
  std::size_t bad = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      const float g = got[r * stride + c];
      const expected& e = want[r * cols + c];
      if (acceptable(g, e)) continue;
      ++bad;
      if (shown++ < 4) {
        message << what << "[" << r << "][" << c << "]: got " << g << ", exact " << static_cast<double>(e.value)
                << " (tolerance " << static_cast<double>(e.tolerance) << ", off by "
                << static_cast<double>(std::fabs(static_cast<real>(g) - e.value)) << ")\n";
      }
    }
  }
  if (bad > 0) message << what << ": " << bad << " of " << rows * cols << " elements outside the bound\n";
  return message.str();
}

std::string compare_bits(const char* what, const float* a, const float* b, std::size_t rows, std::size_t cols,
                         std::size_t stride) {
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      if (std::memcmp(&a[r * stride + c], &b[r * stride + c], sizeof(float)) != 0) {
        std::ostringstream message;
        message.precision(9);
        message << what << "[" << r << "][" << c << "] differs: " << a[r * stride + c] << " vs " << b[r * stride + c]
                << "\n";
        return message.str();
      }
    }
  }
  return "";
}

}  // namespace softxent_reliability
