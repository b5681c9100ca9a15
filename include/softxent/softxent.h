/* softxent: SIMD CPU kernels for softmax, log-softmax, log-sum-exp and cross-entropy.
 *
 * The C API. Usable from C99 and C++; a thin wrapper over the C++ API (softxent.hpp): no call
 * allocates on the heap, none throws, none keeps global mutable state beyond a one-time CPU detection.
 *
 * Common terms for every call below:
 *   - A batch is `rows` rows of `cols` classes (logits), row-major. Each matrix has its own row stride,
 *     in elements, with stride >= cols. Only the first `cols` elements of each row are read or written.
 *   - lse(x) = m + log(sum_j exp(x_j - m)) with m = max_j x_j. softmax(x) = exp(x - lse(x)),
 *     log_softmax(x) = x - lse(x).
 *   - -inf is a masked class (probability 0, log-probability -inf). A row of all -inf has lse -inf,
 *     softmax 0 and log_softmax -inf. A NaN or +inf among a row's logits makes that row's forward
 *     outputs NaN; other rows are unaffected. Any finite input (up to +-FLT_MAX) gives finite results
 *     wherever the exact result fits in a float.
 *   - rows == 0 is a successful no-op that writes nothing (pointers are not checked; options are).
 *   - On any error status nothing is written.
 *   - "In place" means an output with exactly the same pointer and stride as an input. Any other
 *     overlap between the memory spanned by an output and an input (or another output) is
 *     SOFTXENT_ERROR_OVERLAP.
 *   - Results are bitwise identical for any thread count, host pool or grouping of its units, and
 *     between runs. Every row-wise output (lse, softmax and log_softmax rows, backward rows,
 *     cross-entropy NONE losses and gradient rows) has the same bits whether its row is computed
 *     alone or in any batch, at any position, beside any rows (NaN, +inf and all -inf rows included).
 *   - Accuracy (eps = 2^-23, against the exact result in double): softmax relative error at most
 *     (8 + |x_j - m|) * eps (absolute 1e-37 below 1e-30); log_softmax absolute error at most
 *     (8 + |x_j - m|) * eps + 8 * eps * |lse|; lse 8 * eps * (1 + |lse|); for every row length.
 */
#ifndef SOFTXENT_SOFTXENT_H
#define SOFTXENT_SOFTXENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum softxent_status {
  SOFTXENT_OK = 0,
  SOFTXENT_ERROR_NULL_POINTER = 1,   /* a needed pointer is NULL while rows > 0 */
  SOFTXENT_ERROR_INVALID_SHAPE = 2,  /* cols == 0 with rows > 0, a stride < cols, or a size that overflows */
  SOFTXENT_ERROR_INVALID_TARGET = 3, /* a class index outside [0, cols) that is not the ignore index */
  SOFTXENT_ERROR_INVALID_OPTION = 4, /* bad reduction, label smoothing outside [0,1], bad weight, threads < 0 */
  SOFTXENT_ERROR_UNSUPPORTED_ISA = 5,/* an instruction set this build or CPU does not have */
  SOFTXENT_ERROR_OVERLAP = 6,        /* an output partly overlaps an input (exact aliasing is allowed where stated) */
  SOFTXENT_ERROR_UNSUPPORTED_DTYPE = 7, /* a dtype value outside softxent_dtype */
  SOFTXENT_ERROR_WORKSPACE = 8       /* a workspace NULL or smaller than its size query says */
} softxent_status;

/* A short English description of a status; never NULL (unknown values give "unknown status"). */
const char* softxent_status_string(softxent_status status);

/* How a call runs. NULL means all defaults. */
typedef void (*softxent_task)(void* context, size_t first_unit, size_t end_unit);
typedef struct softxent_exec {
  int threads;          /* 0: OpenMP's default; 1: only the calling thread; n: at most n threads; < 0 is
                           SOFTXENT_ERROR_INVALID_OPTION */
  const char* isa;      /* NULL or "auto": SOFTXENT_ISA from the environment, else the best the CPU has;
                           or "reference", "scalar", "sse2", "avx2", "avx512", "neon". An unknown name is
                           INVALID_OPTION, a known one this build or CPU lacks UNSUPPORTED_ISA. */
  /* A host thread pool instead of OpenMP: the library splits the call into units of work that it
     chooses (from the shape alone), and calls parallel_for(pool, units, task, context) at most once;
     the pool runs task over disjoint ranges covering [0, units) on any threads, and returns when all
     are done. A small call may run on the calling thread without it. */
  void (*parallel_for)(void* pool, size_t units, softxent_task task, void* context);
  void* pool;
} softxent_exec;

/* lse[r] = logsumexp of row r of x (rows x cols, stride x_stride). lse holds rows floats and must not
   overlap x. Reads each logit once. */
softxent_status softxent_logsumexp_f32(size_t rows, size_t cols, const float* x, size_t x_stride,
                                       float* lse /* rows values */, const softxent_exec* exec);

/* y = softmax(x), row by row. May run in place (y == x, y_stride == x_stride). Rows sum to 1 within
   the accuracy bound; masked (-inf) classes get exactly 0. */
softxent_status softxent_softmax_f32(size_t rows, size_t cols, const float* x, size_t x_stride,
                                     float* y, size_t y_stride, const softxent_exec* exec);

/* y = log_softmax(x) = x - lse(x), row by row. May run in place. Masked classes get -inf. */
softxent_status softxent_log_softmax_f32(size_t rows, size_t cols, const float* x, size_t x_stride,
                                         float* y, size_t y_stride, const softxent_exec* exec);

/* dx = y * (dy - sum_j dy_j y_j), given y = softmax(x): the vector-Jacobian product of softmax.
   dx may be exactly y or exactly dy (in place). Follows the formula in IEEE arithmetic.
   Absolute error at most 8 * eps * |y_j| * (|dy_j| + sum_k |dy_k y_k|) + 1e-37. */
softxent_status softxent_softmax_backward_f32(size_t rows, size_t cols, const float* y, size_t y_stride,
                                              const float* dy, size_t dy_stride, float* dx, size_t dx_stride,
                                              const softxent_exec* exec);

/* dx = dy - exp(y) * sum_j dy_j, given y = log_softmax(x). dx may be exactly y or exactly dy.
   A masked class (y_j = -inf) gets dx_j = dy_j.
   Absolute error at most 8 * eps * (|dy_j| + exp(y_j) * sum_k |dy_k|) + 1e-37. */
softxent_status softxent_log_softmax_backward_f32(size_t rows, size_t cols, const float* y, size_t y_stride,
                                                  const float* dy, size_t dy_stride, float* dx, size_t dx_stride,
                                                  const softxent_exec* exec);

typedef enum softxent_reduction {
  SOFTXENT_REDUCTION_MEAN = 0, SOFTXENT_REDUCTION_SUM = 1, SOFTXENT_REDUCTION_NONE = 2
} softxent_reduction;

/* PyTorch's torch.nn.functional.cross_entropy options, plus PaLM's z-loss. */
typedef struct softxent_cross_entropy_options {
  softxent_reduction reduction; /* default MEAN: sum over counted rows / sum of their target weights
                                   (integer targets), or / rows (probability targets) */
  int64_t ignore_index;         /* default -100: such rows add no loss and get a zero gradient row */
  float label_smoothing;        /* default 0, in [0, 1] (NaN is INVALID_OPTION) */
  const float* class_weights;   /* default NULL; else cols finite weights >= 0 */
  float z_loss;                 /* default 0 (finite, >= 0); adds z_loss * lse^2 to each counted row's loss,
                                   not weighted by class weights */
  float logit_scale;            /* default 1 (finite, > 0): the loss is taken on z = softcap(logit_scale * x) */
  float softcap;                /* default 0 = off; else finite > 0: softcap(v) = softcap * tanh(v / softcap).
                                   The gradient is with respect to the raw logits x (chain rule through the
                                   scale and the tanh). -inf stays a masked class; +inf and NaN make the row
                                   NaN as without a transform; without softcap, logit_scale * x is kept
                                   within +-FLT_MAX for finite x. */
} softxent_cross_entropy_options;

/* Fills *options with the defaults above. */
void softxent_cross_entropy_options_init(softxent_cross_entropy_options* options);

/* Cross-entropy of rows x cols logits with integer targets (rows values in [0, cols) or ignore_index).
   loss: rows values for NONE, else one value. grad: NULL for loss only; else rows x cols (stride
   grad_stride, ignored when grad is NULL), the gradient of the returned loss (for NONE: of each row's
   own loss) with respect to the logits: s * (p_j - y_j) (+ the z-loss term), every class, not only the
   target. grad may be exactly the logits buffer (same pointer and stride): the gradient then overwrites
   the logits. An ignored row adds nothing and gets a zero gradient row whatever its logits (NaN too).
   MEAN with no counted row (or zero total weight) gives loss 0 and gradient 0. A target on a masked
   (-inf) class gives loss +inf. options == NULL means the defaults.
   Gradient absolute error at most |s| * (bound(p_j) + 8 * eps * (p_j + y_j)); the batch sum or mean
   adds at most 8 * eps relative error for any batch size. Reads each logit once. */
softxent_status softxent_cross_entropy_f32(size_t rows, size_t cols, const float* logits, size_t logits_stride,
                                           const int64_t* targets, const softxent_cross_entropy_options* options,
                                           float* loss, float* grad, size_t grad_stride, const softxent_exec* exec);

/* Cross-entropy with probability targets (each row of target_probs, stride target_stride, a
   distribution); ignore_index does not apply, MEAN divides by rows. A target probability of exactly 0
   on a masked class contributes 0; a positive one gives loss +inf. Otherwise as above. */
softxent_status softxent_cross_entropy_soft_f32(size_t rows, size_t cols, const float* logits, size_t logits_stride,
                                                const float* target_probs, size_t target_stride,
                                                const softxent_cross_entropy_options* options,
                                                float* loss, float* grad, size_t grad_stride, const softxent_exec* exec);

/* Cross-entropy over classes sharded across processes (tensor-parallel vocabularies). A process
   holds columns [shard_offset, shard_offset + shard_cols) of every row of total_cols classes (its
   logits: rows x shard_cols, stride logits_stride); targets (rows values in [0, total_cols) or
   ignore_index) and options->class_weights (total_cols values) are given whole. Each process computes
   its rows' stats; the processes merge them (one all-reduce or all-gather, 32 bytes per row: this
   struct is the wire format) with softxent_shard_stats_merge, in any grouping; finish then gives every
   process the same loss, bitwise, and its own columns of the gradient, equal within the cross-entropy
   bounds to softxent_cross_entropy_f32 on the whole rows. Every option applies: label smoothing and
   z-loss over the whole row, logit_scale and softcap. Errors as for softxent_cross_entropy_f32
   (shard_cols == 0, total_cols == 0 or a shard past total_cols: INVALID_SHAPE). */
typedef struct softxent_shard_stats {
  double max;           /* max_j z_j over the shard (-inf: all masked or an ignored row; NaN: NaN or +inf) */
  double sum_exp;       /* sum_j exp(z_j - shift), shift = max, or 0 when max is -inf */
  double target_logit;  /* z_target when the target is in the shard, else 0 */
  double smoothing_sum; /* with label smoothing: sum_j w_j z_j over the classes with w_j != 0, else 0 */
} softxent_shard_stats;
/* stats: rows values; an ignored row gets the merge identity {-inf, 0, 0, 0}. */
softxent_status softxent_cross_entropy_shard_stats_f32(size_t rows, size_t shard_cols, size_t shard_offset,
    size_t total_cols, const float* logits, size_t logits_stride, const int64_t* targets,
    const softxent_cross_entropy_options* options, softxent_shard_stats* stats /* rows */, const softxent_exec* exec);
/* inout[r] = merge(inout[r], in[r]) for each of rows rows: the statistics of the union of two disjoint
   sets of columns. NaN propagates. Exact up to the rounding of one exp and one add per field. */
void softxent_shard_stats_merge(size_t rows, const softxent_shard_stats* in, softxent_shard_stats* inout);
/* From the merged statistics of whole rows: loss as softxent_cross_entropy_f32 (rows values for NONE,
   else one; the same bits on every process) and, unless grad is NULL, this shard's columns of the
   gradient (rows x shard_cols; may be exactly the logits buffer). logits may be NULL when grad is. */
softxent_status softxent_cross_entropy_shard_finish_f32(size_t rows, size_t shard_cols, size_t shard_offset,
    size_t total_cols, const float* logits, size_t logits_stride, const int64_t* targets,
    const softxent_cross_entropy_options* options, const softxent_shard_stats* merged /* rows */,
    float* loss, float* grad, size_t grad_stride, const softxent_exec* exec);

/* ---------------------------------------------------------------------------------------------
   Element types and the generic calls. Inputs of any softxent_dtype are decoded exactly to float; all
   arithmetic is at least float; every output is rounded once, to nearest even, from the float result
   (a half-precision output never holds an intermediate). Overflow of a half output gives +-inf. Any
   mix of input and output types is allowed; in place (same pointer and stride) only where the dtypes
   are equal. Byte sizes follow the dtype in every shape, stride and overlap check. Losses and lse are
   float. Accuracy: the float bounds, against the exact result from the decoded inputs, plus half an
   ulp of the output type (relative 2^-11 for F16, 2^-8 for BF16) and, for F16 outputs, 2^-25 absolute. */
typedef enum softxent_dtype { SOFTXENT_F32 = 0, SOFTXENT_F16 = 1, SOFTXENT_BF16 = 2 } softxent_dtype;
/* One matrix operand: where its first row starts, its element type, its row stride in elements. F16 is
   IEEE binary16, BF16 is bfloat16, both stored as 16-bit patterns (uint16_t). */
typedef struct softxent_const_matrix { const void* data; softxent_dtype dtype; size_t stride; } softxent_const_matrix;
typedef struct softxent_matrix { void* data; softxent_dtype dtype; size_t stride; } softxent_matrix;

/* The logit transform of the softmax family (attention scores and sampling logits), applied while
   the row is loaded, in this order:
     z = scale * x; z = softcap * tanh(z / softcap) when softcap > 0; z += slope(head) * mask[r % mask_rows][j]
     (a mask value of -inf masks the class whatever the slope); classes j >= valid_cols[r] are masked;
     lse = log(sum_j exp(z_j) + exp(sink(head))), the sink used as given; softmax = exp(z - lse),
     log_softmax = z - lse. head(r) = r / rows_per_head (all rows one head when rows_per_head is 0).
   A -inf logit stays masked whatever the transform; NaN or +inf makes the row NaN; a class masked by
   a -inf mask value or by valid_cols is masked whatever its logit holds (NaN included). A row with
   every class masked: softmax 0, log_softmax -inf, lse = the sink (-inf without one).
   Accuracy: the plain bounds with x replaced by z computed exactly from the inputs, widened by
   4 * eps * (|z_j| + max_k |z_k|) (relative for softmax, absolute for log_softmax and lse).
   Invalid (INVALID_OPTION, nothing written): scale not finite or <= 0, softcap NaN, inf or < 0, a NaN or
   inf slope or sink, valid_cols[r] outside [0, cols]; a mask with mask_rows == 0 or a bad stride is
   INVALID_SHAPE, a mask dtype outside the enum UNSUPPORTED_DTYPE. */
typedef struct softxent_softmax_options {
  float scale;                /* default 1; finite, > 0 (1/temperature, 1/sqrt(head_dim)) */
  float softcap;              /* default 0 = off; else finite > 0 */
  softxent_const_matrix mask; /* default data NULL; else mask_rows x cols, any dtype: z += slope * mask */
  size_t mask_rows;           /* row r uses mask row r % mask_rows; > 0 when mask.data is set */
  size_t rows_per_head;       /* default 0 = all rows are one head; else head(r) = r / rows_per_head */
  const float* slopes;        /* default NULL (slope 1); else one ALiBi slope per head, finite */
  const float* sinks;         /* default NULL; else one logit per head that joins the normalizer and gets no output */
  const int64_t* valid_cols;  /* default NULL; else per row, in [0, cols]: classes j >= valid_cols[r] are masked */
} softxent_softmax_options;
/* Fills *options with the defaults above (no transform). */
void softxent_softmax_options_init(softxent_softmax_options* options);

/* The generic calls: the _f32 calls above are these with F32 operands and no transform. options NULL
   means the defaults. x and y may be the same matrix (same pointer, stride and dtype) for softmax and
   log_softmax; dx may be exactly y or dy with the same dtype. */
softxent_status softxent_logsumexp(size_t rows, size_t cols, softxent_const_matrix x,
                                   const softxent_softmax_options* options, float* lse, const softxent_exec* exec);
softxent_status softxent_softmax(size_t rows, size_t cols, softxent_const_matrix x, softxent_matrix y,
                                 const softxent_softmax_options* options, const softxent_exec* exec);
softxent_status softxent_log_softmax(size_t rows, size_t cols, softxent_const_matrix x, softxent_matrix y,
                                     const softxent_softmax_options* options, const softxent_exec* exec);
softxent_status softxent_softmax_backward(size_t rows, size_t cols, softxent_const_matrix y, softxent_const_matrix dy,
                                          softxent_matrix dx, const softxent_exec* exec);
softxent_status softxent_log_softmax_backward(size_t rows, size_t cols, softxent_const_matrix y,
                                              softxent_const_matrix dy, softxent_matrix dx, const softxent_exec* exec);
/* grad.data NULL: loss only. */
softxent_status softxent_cross_entropy(size_t rows, size_t cols, softxent_const_matrix logits, const int64_t* targets,
                                       const softxent_cross_entropy_options* options, float* loss,
                                       softxent_matrix grad, const softxent_exec* exec);
softxent_status softxent_cross_entropy_soft(size_t rows, size_t cols, softxent_const_matrix logits,
                                            softxent_const_matrix target_probs,
                                            const softxent_cross_entropy_options* options, float* loss,
                                            softxent_matrix grad, const softxent_exec* exec);
/* Fused linear + cross-entropy (the logits are never materialized): cross-entropy of
   logits = inputs * weight^T + bias (rows x classes), and its gradients.
     inputs       rows x hidden, stride inputs_stride
     weight       classes x hidden, stride weight_stride: PyTorch's nn.Linear layout
     bias         classes values, or NULL
     targets, options, loss: as softxent_cross_entropy_f32 (every option applies)
     grad_inputs  rows x hidden, OVERWRITTEN with d loss / d inputs; or NULL
     grad_weight  classes x hidden, ADDED TO (+=) so that micro-batches accumulate; or NULL
     grad_bias    classes values, ADDED TO; or NULL
     workspace    workspace_size bytes, at least softxent_linear_cross_entropy_workspace_size(rows,
                  hidden, classes, exec) (at most 64 MiB for any shape; any alignment); NULL or
                  shorter: SOFTXENT_ERROR_WORKSPACE
   The logits are produced a block at a time by the BLAS (BLIS by default, or a CBLAS's cblas_sgemm:
   one single-threaded call per unit of work) into the workspace, merged into each row's statistics, then turned into the gradient block G,
   whose products G * weight and G^T * inputs are accumulated into grad_inputs and grad_weight.
   Accuracy: cross-entropy's bounds on the exact logits, widened by the products' float error
   ((hidden + 2) * eps * (sum_k |inputs_rk weight_jk| + |bias_j|) per logit), and for grad_inputs /
   grad_weight by (classes + 2) * eps / (rows + 2) * eps times the sum of the absolute products.
   Bitwise identical for any thread count or host pool. Nothing allocated by softxent.
   Errors (nothing written): mismatched or empty shapes, or a size or stride beyond the BLAS's integers
   (INT_MAX with a CBLAS build): INVALID_SHAPE; overlapping outputs (with each other, the inputs or the
   workspace): OVERLAP; a build without a BLAS (CMake option SOFTXENT_BLAS=OFF): UNSUPPORTED_ISA, and a
   workspace size of 0.
   rows == 0 is a no-op (pointers and workspace unchecked, options checked). */
size_t softxent_linear_cross_entropy_workspace_size(size_t rows, size_t hidden, size_t classes,
                                                    const softxent_exec* exec);
softxent_status softxent_linear_cross_entropy_f32(
    size_t rows, size_t hidden, size_t classes,
    const float* inputs, size_t inputs_stride,
    const float* weight, size_t weight_stride,
    const float* bias,
    const int64_t* targets, const softxent_cross_entropy_options* options,
    float* loss,
    float* grad_inputs, size_t grad_inputs_stride,
    float* grad_weight, size_t grad_weight_stride,
    float* grad_bias,
    void* workspace, size_t workspace_size, const softxent_exec* exec);

/* ---------------------------------------------------------------------------------------------
   Top-k and sampling: the last step of a language model's decoding. z is the transformed logit (the
   softmax options above, read as for the softmax family), lse = log(sum_j exp(z_j) + exp(sink)).
   Both read each row's logits and write only small per-row outputs; a row's results never depend on
   the other rows of the call, its position, the thread count or the host pool (bitwise).
   Limits: k (and a sampling top_k below cols) is at most SOFTXENT_MAX_TOP_K, because the candidate
   sets live on the stack (no heap allocation): a larger one is INVALID_OPTION. Class indices are
   32-bit inside: cols >= 2^32 is INVALID_SHAPE.
   Outputs may not overlap the logits, the transform's buffers, the seeds or each other (OVERLAP). */
#define SOFTXENT_MAX_TOP_K 1024

/* The k classes of largest z of each row, in descending order of z, ties by lower index:
   indices[r * k + i] (rows x k, densely packed), log_probs[r * k + i] = z - lse (NULL: not written),
   lse[r] (NULL: not written). Masked classes (z = -inf) rank last, in ascending index, with log_prob
   -inf: an all-masked row gives indices 0 .. k-1 and log_probs -inf (lse the sink, or -inf). A row with
   NaN or +inf (after the transform) gives indices -1, log_probs NaN and lse NaN. Where the transform's
   rounding makes two classes' z equal, or swaps two within its error bound, either order is correct.
   1 <= k <= cols and k <= SOFTXENT_MAX_TOP_K, else INVALID_OPTION. log_probs and lse: the log_softmax
   and lse bounds (widened by the transform as there). Reads each logit once. */
softxent_status softxent_top_k(size_t rows, size_t cols, softxent_const_matrix logits,
                               const softxent_softmax_options* transform, size_t k,
                               int64_t* indices /* rows x k */, float* log_probs /* rows x k, or NULL */,
                               float* lse /* rows, or NULL */, const softxent_exec* exec);

/* Hugging Face's sampling filters, applied in this order, each on the distribution renormalized over
   the classes the previous ones kept; ties at a threshold keep lower indices first. */
typedef struct softxent_sampling_options {
  float temperature; /* default 1; finite >= 0: z' = z / temperature; 0 is greedy:
                        the argmax (lowest index on ties), no draw, and the filters do not matter */
  size_t top_k;      /* default 0 = off: keep the top_k most probable classes (>= cols: off; else at
                        most SOFTXENT_MAX_TOP_K) */
  float top_p;       /* default 1 = off; in (0, 1]: keep the fewest most probable classes whose
                        probability sum reaches top_p */
  float min_p;       /* default 0 = off; in [0, 1]: keep the classes with p >= min_p * max p */
  uint64_t offset;   /* default 0: the draw's counter, e.g. the decoding step */
} softxent_sampling_options;
/* Fills *options with the defaults above (plain sampling at temperature 1). */
void softxent_sampling_options_init(softxent_sampling_options* options);

/* One token per row, drawn from softmax(z') restricted to the kept classes. The draw of row r:
   u = (philox[0] >> 8) * 2^-24, where philox = Philox4x32-10 (Salmon et al., SC 2011; Random123's
   constants) of counter (offset & 0xffffffff, offset >> 32, 0, 0) with key (seeds[r] & 0xffffffff,
   seeds[r] >> 32); tokens[r] is the first kept class, in ascending index order, whose cumulative kept
   probability exceeds u times the kept total. A row's token depends on its seed, not its place.
   log_probs[r] (NULL: not written): the token's z' - lse(z') over all classes, before filtering
   (temperature 0: at temperature 1), within the log_softmax bound. A row with NaN or +inf, or all
   masked: token -1, log_prob NaN. Invalid options (see softxent_sampling_options) and a transform with
   sinks (a sink is never drawn: use top-k or log_softmax for its mass) are INVALID_OPTION; seeds and
   tokens may not be NULL (rows > 0). options NULL: the defaults. */
softxent_status softxent_sample(size_t rows, size_t cols, softxent_const_matrix logits,
                                const softxent_softmax_options* transform, const softxent_sampling_options* options,
                                const uint64_t* seeds /* rows */, int64_t* tokens /* rows */,
                                float* log_probs /* rows, or NULL */, const softxent_exec* exec);

/* The instruction set a call with this exec would use ("reference", "scalar", "sse2", "avx2",
   "avx512", "neon"), or NULL when the exec names an unknown or unsupported one. */
const char* softxent_isa(const softxent_exec* exec);

/* The library's version, "MAJOR.MINOR.PATCH". */
const char* softxent_version(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SOFTXENT_SOFTXENT_H */
