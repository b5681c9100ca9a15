/* The C API from a translation unit compiled as C99: every function, every status, checked against
   double-precision formulas written here. Exits non-zero on the first report of any failure. */
#include <softxent/softxent.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

#define EXPECT(condition)                                                   \
  do {                                                                      \
    if (!(condition)) {                                                     \
      ++failures;                                                           \
      fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #condition); \
    }                                                                       \
  } while (0)

enum { ROWS = 3, COLS = 5 };

static const float logits[ROWS * COLS] = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f,     -1.0f, 0.5f, 0.25f, 2.0f, -3.0f,
                                          90.0f, 95.0f, 99.0f, 100.0f, 88.0f};

/* Closeness well above SPEC.md's bounds, far below any real mistake: 2e-6 (about 16 float eps) per
   unit of the result's magnitude and of the lse it was computed from (log-probabilities and losses
   carry an absolute error of 8 eps * |lse|). */
static int close_to_scaled(double got, double expected, double scale) {
  return fabs(got - expected) <= 2e-6 * (1.0 + fabs(expected) + fabs(scale));
}
static int close_to(double got, double expected) { return close_to_scaled(got, expected, 0.0); }

static double row_lse(const float* x, size_t n) {
  double m = x[0], sum = 0.0;
  size_t j;
  for (j = 1; j < n; ++j)
    if (x[j] > m) m = x[j];
  for (j = 0; j < n; ++j) sum += exp((double)x[j] - m);
  return m + log(sum);
}

static int all_equal(const float* a, float value, size_t n) {
  size_t i;
  for (i = 0; i < n; ++i)
    if (memcmp(&a[i], &value, sizeof value) != 0) return 0;
  return 1;
}

/* A host pool that runs every unit on the calling thread, last first, counting its calls. */
static int pool_calls = 0;
static void backwards_pool(void* pool, size_t units, softxent_task task, void* context) {
  size_t u;
  (void)pool;
  ++pool_calls;
  for (u = units; u > 0; --u) task(context, u - 1, u);
}

static void test_strings(void) {
  int s;
  const char* version = softxent_version();
  EXPECT(version != NULL && strlen(version) >= 5);
  for (s = 0; s <= 6; ++s) {
    const char* text = softxent_status_string((softxent_status)s);
    EXPECT(text != NULL && strlen(text) > 0);
  }
  EXPECT(strcmp(softxent_status_string((softxent_status)42), "unknown status") == 0);
  EXPECT(softxent_isa(NULL) != NULL);
}

static void test_forward(void) {
  float lse[ROWS], y[ROWS * COLS], l[ROWS * COLS], inplace[ROWS * COLS];
  size_t r, c;
  softxent_exec exec;
  memset(&exec, 0, sizeof exec);
  exec.threads = 1;
  EXPECT(softxent_logsumexp_f32(ROWS, COLS, logits, COLS, lse, NULL) == SOFTXENT_OK);
  EXPECT(softxent_softmax_f32(ROWS, COLS, logits, COLS, y, COLS, &exec) == SOFTXENT_OK);
  EXPECT(softxent_log_softmax_f32(ROWS, COLS, logits, COLS, l, COLS, &exec) == SOFTXENT_OK);
  memcpy(inplace, logits, sizeof inplace);
  EXPECT(softxent_softmax_f32(ROWS, COLS, inplace, COLS, inplace, COLS, &exec) == SOFTXENT_OK);
  for (r = 0; r < ROWS; ++r) {
    double exact = row_lse(logits + r * COLS, COLS);
    EXPECT(close_to_scaled(lse[r], exact, exact));
    for (c = 0; c < COLS; ++c) {
      double x = logits[r * COLS + c];
      EXPECT(close_to(y[r * COLS + c], exp(x - exact)));
      EXPECT(close_to_scaled(l[r * COLS + c], x - exact, exact));
      EXPECT(memcmp(&inplace[r * COLS + c], &y[r * COLS + c], sizeof(float)) == 0);
    }
  }
}

static void test_backward(void) {
  float y[ROWS * COLS], dy[ROWS * COLS], dx[ROWS * COLS], logy[ROWS * COLS], dx_log[ROWS * COLS];
  size_t r, c, i;
  for (i = 0; i < ROWS * COLS; ++i) dy[i] = (float)((double)(i % 4) * 0.5 - 0.75);
  EXPECT(softxent_softmax_f32(ROWS, COLS, logits, COLS, y, COLS, NULL) == SOFTXENT_OK);
  EXPECT(softxent_log_softmax_f32(ROWS, COLS, logits, COLS, logy, COLS, NULL) == SOFTXENT_OK);
  EXPECT(softxent_softmax_backward_f32(ROWS, COLS, y, COLS, dy, COLS, dx, COLS, NULL) == SOFTXENT_OK);
  EXPECT(softxent_log_softmax_backward_f32(ROWS, COLS, logy, COLS, dy, COLS, dx_log, COLS, NULL) == SOFTXENT_OK);
  for (r = 0; r < ROWS; ++r) {
    double dot = 0.0, sum = 0.0;
    for (c = 0; c < COLS; ++c) {
      dot += (double)dy[r * COLS + c] * y[r * COLS + c];
      sum += dy[r * COLS + c];
    }
    for (c = 0; c < COLS; ++c) {
      i = r * COLS + c;
      EXPECT(close_to_scaled(dx[i], y[i] * (dy[i] - dot), 1.0));
      EXPECT(close_to_scaled(dx_log[i], dy[i] - exp((double)logy[i]) * sum, 4.0));
    }
  }
}

static void test_cross_entropy(void) {
  const int64_t targets[ROWS] = {4, -100, 1};
  const float weights[COLS] = {1.0f, 2.0f, 0.5f, 1.0f, 3.0f};
  float loss = 0.0f, losses[ROWS], grad[ROWS * COLS], inplace[ROWS * COLS], probs[ROWS * COLS];
  double expected = 0.0, weight_sum = 0.0, lse;
  size_t r, c, i;
  softxent_cross_entropy_options o;
  softxent_exec exec;
  memset(&o, 0xff, sizeof o);
  softxent_cross_entropy_options_init(&o);
  EXPECT(o.reduction == SOFTXENT_REDUCTION_MEAN && o.ignore_index == -100 && o.label_smoothing == 0.0f &&
         o.class_weights == NULL && o.z_loss == 0.0f && o.logit_scale == 1.0f && o.softcap == 0.0f);

  /* weighted MEAN over the counted rows 0 and 2, with the gradient */
  o.class_weights = weights;
  EXPECT(softxent_cross_entropy_f32(ROWS, COLS, logits, COLS, targets, &o, &loss, grad, COLS, NULL) == SOFTXENT_OK);
  for (r = 0; r < ROWS; r += 2) {
    double w = weights[targets[r]];
    lse = row_lse(logits + r * COLS, COLS);
    expected += w * (lse - logits[r * COLS + (size_t)targets[r]]);
    weight_sum += w;
  }
  EXPECT(close_to_scaled(loss, expected / weight_sum, 100.0 * 3.0));
  for (r = 0; r < ROWS; ++r)
    for (c = 0; c < COLS; ++c) {
      i = r * COLS + c;
      if (targets[r] == -100) {
        EXPECT(grad[i] == 0.0f);
      } else {
        double p = exp(logits[i] - row_lse(logits + r * COLS, COLS));
        double w = weights[targets[r]];
        EXPECT(close_to(grad[i], w * (p - (c == (size_t)targets[r] ? 1.0 : 0.0)) / weight_sum));
      }
    }

  /* NONE with label smoothing and z-loss, gradient over the logits, through a host pool */
  softxent_cross_entropy_options_init(&o);
  o.reduction = SOFTXENT_REDUCTION_NONE;
  o.label_smoothing = 0.2f;
  o.z_loss = 0.001f;
  memset(&exec, 0, sizeof exec);
  exec.parallel_for = backwards_pool;
  memcpy(inplace, logits, sizeof inplace);
  EXPECT(softxent_cross_entropy_f32(ROWS, COLS, inplace, COLS, targets, &o, losses, inplace, COLS, &exec) == SOFTXENT_OK);
  EXPECT(pool_calls <= 1);
  for (r = 0; r < ROWS; ++r) {
    double smooth = 0.0, row;
    lse = row_lse(logits + r * COLS, COLS);
    if (targets[r] == -100) {
      EXPECT(losses[r] == 0.0f);
      continue;
    }
    for (c = 0; c < COLS; ++c) smooth += lse - logits[r * COLS + c];
    row = (1.0 - (double)o.label_smoothing) * (lse - logits[r * COLS + (size_t)targets[r]]) +
          (double)o.label_smoothing / COLS * smooth + (double)o.z_loss * lse * lse;
    EXPECT(close_to_scaled(losses[r], row, 2.0 * lse));
    for (c = 0; c < COLS; ++c) {
      double p = exp(logits[r * COLS + c] - lse);
      double yj = (double)o.label_smoothing / COLS + (c == (size_t)targets[r] ? 1.0 - (double)o.label_smoothing : 0.0);
      EXPECT(close_to_scaled(inplace[r * COLS + c], p - yj + 2.0 * (double)o.z_loss * lse * p, 1.0));
    }
  }

  /* probability targets: one-hot rows give the integer-target loss; SUM */
  memset(probs, 0, sizeof probs);
  probs[0 * COLS + 4] = 1.0f;
  probs[1 * COLS + 0] = 1.0f;
  probs[2 * COLS + 1] = 1.0f;
  softxent_cross_entropy_options_init(&o);
  o.reduction = SOFTXENT_REDUCTION_SUM;
  EXPECT(softxent_cross_entropy_soft_f32(ROWS, COLS, logits, COLS, probs, COLS, &o, &loss, NULL, 0, NULL) ==
         SOFTXENT_OK);
  expected = 0.0;
  expected += row_lse(logits, COLS) - logits[4];
  expected += row_lse(logits + COLS, COLS) - logits[COLS];
  expected += row_lse(logits + 2 * COLS, COLS) - logits[2 * COLS + 1];
  EXPECT(close_to_scaled(loss, expected, 3.0 * 100.0));
}

/* Two shards of the rows, merged in either order, give the unsharded loss on every shard and the
   unsharded gradient columns. */
static void test_shards(void) {
  const int64_t targets[ROWS] = {4, -100, 1};
  float whole_loss = 0.0f, loss_first = 0.0f, loss_second = 0.0f, grad[ROWS * COLS], whole_grad[ROWS * COLS];
  softxent_shard_stats first[ROWS], second[ROWS], merged[ROWS];
  softxent_cross_entropy_options o;
  size_t i;
  softxent_cross_entropy_options_init(&o);
  o.label_smoothing = 0.2f;
  o.softcap = 4.0f;
  EXPECT(softxent_cross_entropy_f32(ROWS, COLS, logits, COLS, targets, &o, &whole_loss, whole_grad, COLS, NULL) ==
         SOFTXENT_OK);
  EXPECT(softxent_cross_entropy_shard_stats_f32(ROWS, 2, 0, COLS, logits, COLS, targets, &o, first, NULL) == SOFTXENT_OK);
  EXPECT(softxent_cross_entropy_shard_stats_f32(ROWS, 3, 2, COLS, logits + 2, COLS, targets, &o, second, NULL) ==
         SOFTXENT_OK);
  memcpy(merged, second, sizeof merged);
  softxent_shard_stats_merge(ROWS, first, merged);
  EXPECT(softxent_cross_entropy_shard_finish_f32(ROWS, 2, 0, COLS, logits, COLS, targets, &o, merged, &loss_first,
                                                 grad, COLS, NULL) == SOFTXENT_OK);
  EXPECT(softxent_cross_entropy_shard_finish_f32(ROWS, 3, 2, COLS, logits + 2, COLS, targets, &o, merged,
                                                 &loss_second, grad + 2, COLS, NULL) == SOFTXENT_OK);
  EXPECT(memcmp(&loss_first, &loss_second, sizeof loss_first) == 0);
  EXPECT(close_to_scaled(loss_first, whole_loss, 10.0));
  for (i = 0; i < ROWS * COLS; ++i) EXPECT(close_to_scaled(grad[i], whole_grad[i], 10.0));
  EXPECT(softxent_cross_entropy_shard_stats_f32(ROWS, 3, 3, COLS, logits + 3, COLS, targets, &o, second, NULL) ==
         SOFTXENT_ERROR_INVALID_SHAPE);
}

/* The fused linear cross-entropy: with inputs = the identity (hidden = COLS) and weight = the logits
   transposed, its loss and grad_inputs are those of cross-entropy on the logits; grad_weight and
   grad_bias add up; NULL and short workspaces are SOFTXENT_ERROR_WORKSPACE. */
static void test_linear(void) {
  const int64_t targets[ROWS] = {4, -100, 1};
  float inputs[ROWS * ROWS], weight[COLS * ROWS], bias[COLS], grad_inputs[ROWS * ROWS], grad_weight[COLS * ROWS];
  float grad_bias[COLS], loss = 0.0f, whole_loss = 0.0f, whole_grad[ROWS * COLS];
  static unsigned char work[1 << 16];
  size_t size, r, j;
  softxent_cross_entropy_options o;
  softxent_cross_entropy_options_init(&o);
  o.label_smoothing = 0.1f;
  for (r = 0; r < ROWS; ++r)
    for (j = 0; j < ROWS; ++j) inputs[r * ROWS + j] = r == j ? 1.0f : 0.0f;
  for (j = 0; j < COLS; ++j) {
    bias[j] = 0.0f;
    grad_bias[j] = 1.0f;
    for (r = 0; r < ROWS; ++r) {
      weight[j * ROWS + r] = logits[r * COLS + j];
      grad_weight[j * ROWS + r] = 0.0f;
    }
  }
  EXPECT(softxent_cross_entropy_f32(ROWS, COLS, logits, COLS, targets, &o, &whole_loss, whole_grad, COLS, NULL) ==
         SOFTXENT_OK);
  size = softxent_linear_cross_entropy_workspace_size(ROWS, ROWS, COLS, NULL);
  if (size == 0) { /* a build without a BLAS */
    EXPECT(softxent_linear_cross_entropy_f32(ROWS, ROWS, COLS, inputs, ROWS, weight, ROWS, bias, targets, &o, &loss,
                                             grad_inputs, ROWS, grad_weight, ROWS, grad_bias, work, sizeof work,
                                             NULL) == SOFTXENT_ERROR_UNSUPPORTED_ISA);
    return;
  }
  EXPECT(size <= sizeof work);
  EXPECT(softxent_linear_cross_entropy_f32(ROWS, ROWS, COLS, inputs, ROWS, weight, ROWS, bias, targets, &o, &loss,
                                           grad_inputs, ROWS, grad_weight, ROWS, grad_bias, NULL, size, NULL) ==
         SOFTXENT_ERROR_WORKSPACE);
  EXPECT(softxent_linear_cross_entropy_f32(ROWS, ROWS, COLS, inputs, ROWS, weight, ROWS, bias, targets, &o, &loss,
                                           grad_inputs, ROWS, grad_weight, ROWS, grad_bias, work, size - 1, NULL) ==
         SOFTXENT_ERROR_WORKSPACE);
  EXPECT(loss == 0.0f);
  EXPECT(softxent_linear_cross_entropy_f32(ROWS, ROWS, COLS, inputs, ROWS, weight, ROWS, bias, targets, &o, &loss,
                                           grad_inputs, ROWS, grad_weight, ROWS, grad_bias, work, size, NULL) ==
         SOFTXENT_OK);
  EXPECT(close_to_scaled(loss, whole_loss, 10.0));
  /* grad_inputs = G * weight = G * logits^T; grad_weight = G^T (G's columns); grad_bias = 1 + column sums */
  for (j = 0; j < COLS; ++j) {
    double column = 0.0;
    for (r = 0; r < ROWS; ++r) {
      EXPECT(close_to_scaled(grad_weight[j * ROWS + r], whole_grad[r * COLS + j], 10.0));
      column += whole_grad[r * COLS + j];
    }
    EXPECT(close_to_scaled(grad_bias[j], 1.0 + column, 10.0));
  }
  for (r = 0; r < ROWS; ++r)
    for (j = 0; j < ROWS; ++j) {
      double dot = 0.0;
      size_t c;
      for (c = 0; c < COLS; ++c) dot += whole_grad[r * COLS + c] * logits[j * COLS + c];
      EXPECT(fabs(grad_inputs[r * ROWS + j] - dot) <= 1e-5 * (1.0 + fabs(dot)));
    }
}

static void test_statuses(void) {
  float x[ROWS * COLS], out[64], loss[4];
  float sentinel;
  int64_t targets[ROWS] = {0, 1, 2};
  softxent_cross_entropy_options o;
  softxent_exec exec;
  unsigned int bits = 0x7fa5a5a5u;
  memcpy(&sentinel, &bits, sizeof sentinel);
  memcpy(x, logits, sizeof x);
  {
    size_t i;
    for (i = 0; i < 64; ++i) out[i] = sentinel;
    for (i = 0; i < 4; ++i) loss[i] = sentinel;
  }
  EXPECT(softxent_softmax_f32(ROWS, COLS, NULL, COLS, out, COLS, NULL) == SOFTXENT_ERROR_NULL_POINTER);
  EXPECT(softxent_logsumexp_f32(ROWS, 0, x, COLS, out, NULL) == SOFTXENT_ERROR_INVALID_SHAPE);
  EXPECT(softxent_log_softmax_f32(ROWS, COLS, x, COLS - 1, out, COLS, NULL) == SOFTXENT_ERROR_INVALID_SHAPE);
  EXPECT(softxent_softmax_f32((size_t)-1 / 4, COLS, x, COLS, out, COLS, NULL) == SOFTXENT_ERROR_INVALID_SHAPE);
  targets[2] = COLS;
  EXPECT(softxent_cross_entropy_f32(ROWS, COLS, x, COLS, targets, NULL, loss, out, COLS, NULL) ==
         SOFTXENT_ERROR_INVALID_TARGET);
  targets[2] = 2;
  softxent_cross_entropy_options_init(&o);
  o.label_smoothing = 1.5f;
  EXPECT(softxent_cross_entropy_f32(ROWS, COLS, x, COLS, targets, &o, loss, out, COLS, NULL) ==
         SOFTXENT_ERROR_INVALID_OPTION);
  softxent_cross_entropy_options_init(&o);
  o.reduction = (softxent_reduction)5;
  EXPECT(softxent_cross_entropy_soft_f32(ROWS, COLS, x, COLS, x, COLS, &o, loss, NULL, 0, NULL) ==
         SOFTXENT_ERROR_INVALID_OPTION);
  memset(&exec, 0, sizeof exec);
  exec.threads = -1;
  EXPECT(softxent_softmax_backward_f32(ROWS, COLS, x, COLS, x, COLS, out, COLS, &exec) == SOFTXENT_ERROR_INVALID_OPTION);
  exec.threads = 0;
  exec.isa = "bogus";
  EXPECT(softxent_log_softmax_backward_f32(ROWS, COLS, x, COLS, x, COLS, out, COLS, &exec) ==
         SOFTXENT_ERROR_INVALID_OPTION);
  EXPECT(softxent_isa(&exec) == NULL);
#if defined(__x86_64__) || defined(_M_X64)
  exec.isa = "neon";
#else
  exec.isa = "avx512";
#endif
  EXPECT(softxent_softmax_f32(ROWS, COLS, x, COLS, out, COLS, &exec) == SOFTXENT_ERROR_UNSUPPORTED_ISA);
  EXPECT(softxent_isa(&exec) == NULL);
  EXPECT(softxent_softmax_f32(ROWS, COLS, x, COLS, x + 1, COLS, NULL) == SOFTXENT_ERROR_OVERLAP);
  EXPECT(softxent_cross_entropy_f32(ROWS, COLS, x, COLS, targets, NULL, x + 3, NULL, 0, NULL) == SOFTXENT_ERROR_OVERLAP);
  /* none of those wrote anything */
  EXPECT(all_equal(out, sentinel, 64));
  EXPECT(all_equal(loss, sentinel, 4));
  EXPECT(memcmp(x, logits, sizeof x) == 0);
  /* rows == 0 is a no-op that checks no pointer */
  EXPECT(softxent_softmax_backward_f32(0, COLS, NULL, COLS, NULL, COLS, NULL, COLS, NULL) == SOFTXENT_OK);
  EXPECT(softxent_cross_entropy_soft_f32(0, COLS, NULL, COLS, NULL, COLS, NULL, NULL, NULL, 0, NULL) == SOFTXENT_OK);
}

/* Top-k and sampling from C: row 0 is ascending (its top 3 are 4, 3, 2), row 2 peaks at class 3. */
static void test_selection(void) {
  softxent_const_matrix x;
  softxent_sampling_options greedy, plain;
  int64_t indices[ROWS * 3], tokens[ROWS];
  float log_probs[ROWS * 3], lse[ROWS], token_log_probs[ROWS];
  const uint64_t seeds[ROWS] = {1, 2, 3};
  x.data = logits;
  x.dtype = SOFTXENT_F32;
  x.stride = COLS;
  EXPECT(softxent_top_k(ROWS, COLS, x, NULL, 3, indices, log_probs, lse, NULL) == SOFTXENT_OK);
  EXPECT(indices[0] == 4 && indices[1] == 3 && indices[2] == 2);
  EXPECT(indices[6] == 3 && indices[7] == 2 && indices[8] == 1);
  EXPECT(close_to_scaled(lse[2], row_lse(logits + 2 * COLS, COLS), lse[2]));
  EXPECT(close_to_scaled(log_probs[6], 100.0 - row_lse(logits + 2 * COLS, COLS), lse[2]));
  EXPECT(softxent_top_k(ROWS, COLS, x, NULL, COLS + 1, indices, NULL, NULL, NULL) == SOFTXENT_ERROR_INVALID_OPTION);
  softxent_sampling_options_init(&greedy);
  greedy.temperature = 0.0f;
  EXPECT(softxent_sample(ROWS, COLS, x, NULL, &greedy, seeds, tokens, token_log_probs, NULL) == SOFTXENT_OK);
  EXPECT(tokens[0] == 4 && tokens[1] == 3 && tokens[2] == 3);
  EXPECT(close_to_scaled(token_log_probs[1], 2.0 - row_lse(logits + COLS, COLS), 3.0));
  softxent_sampling_options_init(&plain);
  EXPECT(softxent_sample(ROWS, COLS, x, NULL, &plain, seeds, tokens, NULL, NULL) == SOFTXENT_OK);
  EXPECT(tokens[0] >= 0 && tokens[0] < COLS && tokens[1] >= 0 && tokens[1] < COLS && tokens[2] >= 0 && tokens[2] < COLS);
  plain.min_p = 2.0f;
  EXPECT(softxent_sample(ROWS, COLS, x, NULL, &plain, seeds, tokens, NULL, NULL) == SOFTXENT_ERROR_INVALID_OPTION);
  EXPECT(softxent_sample(ROWS, COLS, x, NULL, NULL, NULL, tokens, NULL, NULL) == SOFTXENT_ERROR_NULL_POINTER);
}

int main(void) {
  test_strings();
  test_selection();
  test_forward();
  test_backward();
  test_cross_entropy();
  test_shards();
  test_linear();
  test_statuses();
  if (failures != 0) {
    fprintf(stderr, "%d C API check(s) failed\n", failures);
    return 1;
  }
  printf("C API: all checks passed (isa %s, version %s)\n", softxent_isa(NULL), softxent_version());
  return 0;
}
