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
#include <type_traits>

namespace softxent {

enum class status : int {
  ok = 0,
  null_pointer = 1,    // a needed pointer is null while rows > 0
  invalid_shape = 2,   // cols == 0 with rows > 0, stride < cols, mismatched views, or a size overflow
  invalid_target = 3,  // a class index outside [0, cols) that is not the ignore index
  invalid_option = 4,  // bad reduction, label smoothing, class weight, z_loss, threads < 0, unknown ISA
  unsupported_isa = 5, // an instruction set this build or CPU does not have
  overlap = 6,         // an output partly overlaps an input or another output
  unsupported_dtype = 7, // a dtype value outside softxent::dtype
  workspace = 8,       // a workspace that is null or smaller than its size query says
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

// A row-major matrix of T (float, half or bfloat16) with a row stride in elements.
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
  // A mutable view converts to a read-only one (of the same element type).
  template <class U, class = std::enable_if_t<std::is_convertible<U*, T*>::value>>
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
  // The loss is taken on z = softcap(logit_scale * x) (Gemma 2's final-logit softcapping:
  // softcap(v) = softcap * tanh(v / softcap)), the gradient with respect to the raw logits x.
  float logit_scale = 1.0f;            // finite > 0
  float softcap = 0.0f;                // 0: off; else finite > 0
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

// Cross-entropy over classes sharded across processes (tensor-parallel vocabularies). A process
// holds columns [shard.offset, shard.offset + logits.cols) of every row of total_cols classes; targets
// (logits.rows values in [0, total_cols) or ignore_index) and options.class_weights (total_cols values)
// are given whole. Each process computes its rows' shard_stats, the processes merge them (one
// all-reduce or all-gather of 32 bytes per row, merged with shard_stats_merge in any grouping), and
// cross_entropy_shard_finish then gives every process the same loss, bitwise, and its own columns of
// the gradient, equal within the cross-entropy bounds to the unsharded call. Every cross-entropy
// option applies (label smoothing and z-loss across the whole row, logit_scale and softcap).
struct shard_stats {
  double max;            // max_j z_j over the shard's columns (-inf: none or all masked; NaN: NaN or +inf)
  double sum_exp;        // sum_j exp(z_j - shift), shift = max, or 0 when max is -inf
  double target_logit;   // z_target when the target is in the shard, else 0
  double smoothing_sum;  // with label smoothing: sum_j w_j z_j over the classes with w_j != 0, else 0
};
struct class_shard {
  std::size_t offset = 0;      // the first column this process holds
  std::size_t total_cols = 0;  // classes of the whole row
};
// stats[r] for each of logits.rows rows; an ignored row gets the merge identity {-inf, 0, 0, 0}.
status cross_entropy_shard_stats(const_matrix logits, class_shard shard, const std::int64_t* targets,
                                 shard_stats* stats, const cross_entropy_options& options = {},
                                 const exec_options& exec = {}) noexcept;
// inout[r] = merge(inout[r], in[r]) for rows rows: the statistics of the union of two disjoint sets of
// columns. The shape of an MPI user function's body (in, inout, count).
void shard_stats_merge(std::size_t rows, const shard_stats* in, shard_stats* inout) noexcept;
// From the merged statistics of whole rows: loss (as cross_entropy: logits.rows values for none, else
// one) and, unless grad.data is null, this shard's columns of the gradient (grad may alias logits
// exactly). logits.data may be null when grad.data is.
status cross_entropy_shard_finish(const_matrix logits, class_shard shard, const std::int64_t* targets,
                                  const shard_stats* merged, float* loss, matrix grad,
                                  const cross_entropy_options& options = {}, const exec_options& exec = {}) noexcept;

// ---------------------------------------------------------------------------------------------
// Element types. Inputs of any dtype are decoded exactly to float, arithmetic is at least float, and
// every output is rounded once, to nearest even, from the float result (overflow of a half output:
// +-inf). Any mix of input and output types is allowed; in place only where the dtypes are equal.
// Accuracy: the float bounds plus half an ulp of the output type (2^-11 relative for f16, 2^-8 for
// bf16) and, for f16 outputs, 2^-25 absolute.
enum class dtype : int { f32 = 0, f16 = 1, bf16 = 2 };

// 16-bit storage types: the bit pattern of an IEEE binary16 or a bfloat16, nothing more.
struct half {
  std::uint16_t bits;
};
struct bfloat16 {
  std::uint16_t bits;
};

template <class T>
struct dtype_of;
template <>
struct dtype_of<float> : std::integral_constant<dtype, dtype::f32> {};
template <>
struct dtype_of<half> : std::integral_constant<dtype, dtype::f16> {};
template <>
struct dtype_of<bfloat16> : std::integral_constant<dtype, dtype::bf16> {};

// A matrix of any element type: typed views convert to it (matrix_view<half> to any_matrix with
// dtype f16), so that one call takes any mix of float, half and bfloat16 operands.
template <class Void>
struct any_matrix_view {
  Void* data = nullptr;
  softxent::dtype dtype = softxent::dtype::f32;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t stride = 0;

  constexpr any_matrix_view() noexcept = default;
  constexpr any_matrix_view(Void* data_, softxent::dtype dtype_, std::size_t rows_, std::size_t cols_,
                            std::size_t stride_) noexcept
      : data(data_), dtype(dtype_), rows(rows_), cols(cols_), stride(stride_) {}
  template <class T, class = std::enable_if_t<std::is_convertible<T*, Void*>::value>>
  constexpr any_matrix_view(const matrix_view<T>& m) noexcept  // NOLINT(google-explicit-constructor)
      : data(m.data), dtype(dtype_of<std::remove_const_t<T>>::value), rows(m.rows), cols(m.cols), stride(m.stride) {}
  // A mutable view converts to a read-only one.
  template <class V, class = std::enable_if_t<std::is_convertible<V*, Void*>::value>>
  constexpr any_matrix_view(const any_matrix_view<V>& m) noexcept  // NOLINT(google-explicit-constructor)
      : data(m.data), dtype(m.dtype), rows(m.rows), cols(m.cols), stride(m.stride) {}
};
using const_any_matrix = any_matrix_view<const void>;
using any_matrix = any_matrix_view<void>;

// The logit transform of the softmax family, applied while a row is loaded (see softxent.h for the
// full contract): z = scale * x, then softcap, then + slope(head) * mask[r % mask.rows][j] (a -inf mask
// value masks the class), then classes j >= valid_cols[r] masked; the head's sink joins the normalizer.
struct softmax_options {
  float scale = 1.0f;                     // finite > 0
  float softcap = 0.0f;                   // 0: off; else finite > 0
  const_any_matrix mask;                  // data null: none; else mask.rows rows of cols values, any dtype
  std::size_t rows_per_head = 0;          // 0: all rows one head; else head(r) = r / rows_per_head
  const float* slopes = nullptr;          // one ALiBi slope per head (null: 1)
  const float* sinks = nullptr;           // one sink logit per head (null: none)
  const std::int64_t* valid_cols = nullptr;  // per row, in [0, cols]: classes j >= valid_cols[r] masked
};

// The generic operations: any dtype per operand, and the logit transform for the softmax family.
status logsumexp(const_any_matrix x, float* lse, const softmax_options& options = {},
                 const exec_options& exec = {}) noexcept;
status softmax(const_any_matrix x, any_matrix y, const softmax_options& options = {},
               const exec_options& exec = {}) noexcept;
status log_softmax(const_any_matrix x, any_matrix y, const softmax_options& options = {},
                   const exec_options& exec = {}) noexcept;
status softmax_backward(const_any_matrix y, const_any_matrix dy, any_matrix dx, const exec_options& exec = {}) noexcept;
status log_softmax_backward(const_any_matrix y, const_any_matrix dy, any_matrix dx,
                            const exec_options& exec = {}) noexcept;
status cross_entropy(const_any_matrix logits, const std::int64_t* targets, float* loss, any_matrix grad,
                     const cross_entropy_options& options = {}, const exec_options& exec = {}) noexcept;
status cross_entropy_soft(const_any_matrix logits, const_any_matrix target_probs, float* loss, any_matrix grad,
                          const cross_entropy_options& options = {}, const exec_options& exec = {}) noexcept;
// Fused linear + cross-entropy: the loss of logits = inputs * weight^T + bias and its gradients with
// respect to inputs, weight and bias, without ever holding the rows x classes logits. The logits are
// produced a block at a time by a BLAS (BLIS or a CBLAS, one single-threaded call per unit of work) into
// the caller's workspace, merged into each row's statistics, turned into the gradient block G, and
// the two gradient products accumulated: grad_inputs = G * weight, grad_weight += G^T * inputs.
//
//   layer.inputs   rows x hidden (any stride >= hidden)
//   layer.weight   classes x hidden: PyTorch's nn.Linear layout
//   layer.bias     classes values, or null
//   targets        rows class indices in [0, classes) or options.ignore_index
//   loss           as cross_entropy: rows values for reduction::none, else one
//   grads.inputs   rows x hidden, OVERWRITTEN with d loss / d inputs; data null: not computed
//   grads.weight   classes x hidden, ADDED TO (+=), so that micro-batches accumulate; data null: not computed
//   grads.bias     classes values, ADDED TO; null: not computed
//   work           linear_cross_entropy_workspace_size(rows, hidden, classes) bytes (at most 64 MiB for
//                  any shape, any alignment); null or shorter: status::workspace
// Every cross-entropy option applies (reductions, ignore_index, label smoothing, class weights,
// z-loss, logit_scale, softcap), as cross_entropy on the exact logits. Accuracy: cross_entropy's bounds
// widened by the products' float error, (hidden + 2) * eps * (sum_k |inputs_rk weight_jk| + |bias_j|)
// per logit; grads.inputs and grads.weight by (classes + 2) * eps and (rows + 2) * eps times the sum of
// the absolute products they add up. NaN and infinities in inputs or weight reach the products as IEEE
// arithmetic takes them (an ignored row then still gets a zero gradient of its logits).
// Bitwise identical for any thread count or host pool: the units of work, and the order in which
// each output sums its parts, follow from the shape alone. Nothing is allocated by softxent; the
// BLAS (BLIS by default) keeps its own packing buffers from call to call.
// Errors, with nothing written: a shape mismatch (inputs.cols != weight.cols, grads not of their
// matrix's shape), hidden or classes 0, or a size or stride beyond the BLAS's integers (INT_MAX for a
// CBLAS): invalid_shape;
// outputs overlapping each other, the inputs or the workspace: overlap; a build without a BLAS
// (SOFTXENT_BLAS=OFF): unsupported_isa. rows == 0 is a no-op (pointers and workspace unchecked).
struct linear_layer {
  const_matrix inputs;
  const_matrix weight;
  const float* bias = nullptr;
};
struct linear_gradients {
  matrix inputs;
  matrix weight;
  float* bias = nullptr;
};
struct workspace_view {
  void* data = nullptr;
  std::size_t size = 0;  // bytes
};
// The bytes of workspace a call of this shape needs: at most 64 MiB, 0 when the build has no BLAS or
// the shape is empty or invalid. The same for any exec options.
std::size_t linear_cross_entropy_workspace_size(std::size_t rows, std::size_t hidden, std::size_t classes,
                                                const exec_options& exec = {}) noexcept;
status linear_cross_entropy(const linear_layer& layer, const std::int64_t* targets, float* loss,
                            const linear_gradients& grads, workspace_view work,
                            const cross_entropy_options& options = {}, const exec_options& exec = {}) noexcept;

// ---------------------------------------------------------------------------------------------
// Top-k and sampling (see softxent.h for the full contract). z is the transformed logit of the softmax
// family, lse = log(sum_j exp(z_j) + exp(sink)). A row's outputs never depend on the other rows, its
// position, the thread count or the host pool (bitwise). Candidate sets live on the stack: k (and a
// sampling top_k below cols) is at most max_top_k, else status::invalid_option; cols >= 2^32 is
// status::invalid_shape. Outputs may not overlap any input or each other.
constexpr std::size_t max_top_k = 1024;

// indices and log_probs: logits.rows x k, densely packed (log_probs may be null); lse: logits.rows
// values (may be null). Descending z, ties by lower index; masked classes last in ascending index
// (log_prob -inf); a row with NaN or +inf: indices -1, log_probs and lse NaN. 1 <= k <= min(cols,
// max_top_k), else invalid_option.
status top_k(const_any_matrix logits, std::size_t k, std::int64_t* indices, float* log_probs, float* lse,
             const softmax_options& transform = {}, const exec_options& exec = {}) noexcept;

// Hugging Face's order: z' = z / temperature, then top_k, top_p, min_p, each on the distribution
// renormalized over the classes still kept; ties at a threshold keep lower indices first.
struct sampling_options {
  float temperature = 1.0f;  // finite >= 0; 0: greedy (the argmax, lowest index on ties)
  std::size_t top_k = 0;     // 0 or >= cols: off; else at most max_top_k
  float top_p = 1.0f;        // in (0, 1]; 1: off
  float min_p = 0.0f;        // in [0, 1]; 0: off
  std::uint64_t offset = 0;  // the draw's counter (e.g. the decoding step)
};

// tokens[r]: the first kept class, in ascending index order, whose cumulative kept probability exceeds
// u * kept total, u = (Philox4x32-10(counter {offset lo, offset hi, 0, 0}, key {seed lo, seed hi})[0] >> 8)
// * 2^-24 with seed = seeds[r]. log_probs[r] (may be null): the token's z' - lse(z'), before filtering
// (at temperature 1 when greedy). NaN or +inf in a row, or all masked: token -1, log_prob NaN. A
// transform with sinks is invalid_option.
status sample(const_any_matrix logits, const std::uint64_t* seeds, std::int64_t* tokens, float* log_probs,
              const sampling_options& options = {}, const softmax_options& transform = {},
              const exec_options& exec = {}) noexcept;

// The instruction set a call with these options would use, or nullptr if it names an unknown or
// unsupported one.
const char* isa(const exec_options& exec = {}) noexcept;

// "MAJOR.MINOR.PATCH".
const char* version() noexcept;

}  // namespace softxent

#endif  // SOFTXENT_SOFTXENT_HPP
