// softxent: SIMD CPU kernels for softmax, log-softmax, log-sum-exp and cross-entropy.
//
// The C++ API. Same operations and semantics as the C API (softxent.h), with matrix views, option
// structs with defaults and a status return. Every function is noexcept, allocates nothing on the heap
// and never exposes SIMD types.
//
// Semantics shared by every operation (see softxent.h for the full contract):
//   - Views are row-major with a row stride in elements (stride >= cols); only the first cols
//     elements of each row are touched. Input and output views of one call must have the same rows
//     and cols (else status::invalid_shape).
//   - -inf is a masked class; an all -inf row gives lse -inf, softmax 0, log_softmax -inf. NaN or +inf
//     in a row makes that row's forward outputs NaN, leaving the other rows alone.
//   - rows == 0 is a no-op returning ok (pointers unchecked, options checked). On error nothing is
//     written.
//   - In place = same pointer and same stride. Other overlaps of an output with any other buffer
//     are status::overlap.
//   - Bitwise identical results for any thread count or host pool, and between runs; and for each
//     row-wise output whether its row is computed alone or in any batch, beside any rows.
//   - Accuracy against the exact result (eps = 2^-23): softmax relative (8 + |x_j - m|) * eps,
//     log_softmax absolute (8 + |x_j - m|) * eps + 8 * eps * |lse|, lse 8 * eps * (1 + |lse|).
#ifndef SOFTXENT_SOFTXENT_HPP
#define SOFTXENT_SOFTXENT_HPP

#include <cstddef>
#include <cstdint>

namespace softxent {

enum class status : int {
  ok = 0,
  null_pointer = 1,    // a needed pointer is null while rows > 0
  invalid_shape = 2,   // cols == 0 with rows > 0, stride < cols, mismatched views, or a size overflow
  invalid_target = 3,  // a class index outside [0, cols) that is not the ignore index
  invalid_option = 4,  // bad reduction, label smoothing, class weight, z_loss, threads < 0, unknown ISA
  unsupported_isa = 5, // an instruction set this build or CPU does not have
  overlap = 6,         // an output partly overlaps an input or another output
};

// A short English description of a status; never null.
const char* status_string(status s) noexcept;

using task = void (*)(void* context, std::size_t first_unit, std::size_t end_unit);

// How a call runs; the defaults are OpenMP's thread count and the best ISA of the CPU.
struct exec_options {
  int threads = 0;             // 0: OpenMP's default; 1: calling thread only; n: at most n threads
  const char* isa = nullptr;   // nullptr or "auto" (SOFTXENT_ISA, else the best), "reference", "scalar",
                               // "sse2", "avx2", "avx512", "neon"
  // Host thread pool: called at most once per call with units chosen from the shape alone; must run
  // task over disjoint ranges covering [0, units) and return when all are done.
  void (*parallel_for)(void* pool, std::size_t units, task body, void* context) = nullptr;
  void* pool = nullptr;
};

// A row-major matrix of float with a row stride in elements.
template <class T>
struct matrix_view {
  T* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t stride = 0;

  constexpr matrix_view() noexcept = default;
  constexpr matrix_view(T* data_, std::size_t rows_, std::size_t cols_, std::size_t stride_) noexcept
      : data(data_), rows(rows_), cols(cols_), stride(stride_) {}
  // Densely packed rows: stride == cols.
  constexpr matrix_view(T* data_, std::size_t rows_, std::size_t cols_) noexcept
      : data(data_), rows(rows_), cols(cols_), stride(cols_) {}
  // A mutable view converts to a read-only one.
  template <class U>
  constexpr matrix_view(const matrix_view<U>& other) noexcept  // NOLINT(google-explicit-constructor)
      : data(other.data), rows(other.rows), cols(other.cols), stride(other.stride) {}

  T* row(std::size_t r) const noexcept { return data + r * stride; }
};
using const_matrix = matrix_view<const float>;
using matrix = matrix_view<float>;

// lse[r] = logsumexp(x row r) for each of x.rows rows. lse must not overlap x.
status logsumexp(const_matrix x, float* lse, const exec_options& exec = {}) noexcept;

// y = softmax(x) row by row; may run in place. Masked classes get 0; rows sum to 1 within the bound.
status softmax(const_matrix x, matrix y, const exec_options& exec = {}) noexcept;

// y = log_softmax(x) = x - lse(x) row by row; may run in place. Masked classes get -inf.
status log_softmax(const_matrix x, matrix y, const exec_options& exec = {}) noexcept;

// dx = y * (dy - sum_j dy_j y_j), with y = softmax(x). dx may be exactly y or dy.
// Error at most 8 * eps * |y_j| * (|dy_j| + sum_k |dy_k y_k|) + 1e-37.
status softmax_backward(const_matrix y, const_matrix dy, matrix dx, const exec_options& exec = {}) noexcept;

// dx = dy - exp(y) * sum_j dy_j, with y = log_softmax(x). dx may be exactly y or dy. Masked: dx = dy.
// Error at most 8 * eps * (|dy_j| + exp(y_j) * sum_k |dy_k|) + 1e-37.
status log_softmax_backward(const_matrix y, const_matrix dy, matrix dx, const exec_options& exec = {}) noexcept;

enum class reduction : int { mean = 0, sum = 1, none = 2 };

// PyTorch's cross_entropy options plus PaLM's z-loss; the defaults are PyTorch's.
struct cross_entropy_options {
  softxent::reduction reduction = softxent::reduction::mean;
  std::int64_t ignore_index = -100;    // integer targets only: such rows add nothing, zero gradient
  float label_smoothing = 0.0f;        // in [0, 1]
  const float* class_weights = nullptr;// nullptr, or cols finite weights >= 0
  float z_loss = 0.0f;                 // finite >= 0: adds z_loss * lse^2 per counted row (unweighted)
};

// Cross-entropy with integer targets (logits.rows values). loss: logits.rows floats for
// reduction::none, else one float. grad: grad.data == nullptr for loss only, else a logits-shaped
// view that receives the gradient of the returned loss (for none: of each row's own loss), every
// class p_j - y_j scaled by the reduction, plus 2 * z_loss * lse * p_j. grad may alias logits exactly.
// MEAN divides by the sum of the counted rows' target weights; with none counted, loss 0 and grad 0.
status cross_entropy(const_matrix logits, const std::int64_t* targets, float* loss, matrix grad,
                     const cross_entropy_options& options = {}, const exec_options& exec = {}) noexcept;

// Cross-entropy with probability targets (a logits-shaped view). ignore_index does not apply; MEAN
// divides by rows. A zero probability on a masked class contributes 0.
status cross_entropy_soft(const_matrix logits, const_matrix target_probs, float* loss, matrix grad,
                          const cross_entropy_options& options = {}, const exec_options& exec = {}) noexcept;

// The instruction set a call with these options would use, or nullptr if it names an unknown or
// unsupported one.
const char* isa(const exec_options& exec = {}) noexcept;

// "MAJOR.MINOR.PATCH".
const char* version() noexcept;

}  // namespace softxent

#endif  // SOFTXENT_SOFTXENT_HPP
