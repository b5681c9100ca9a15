#include <softxent/softxent.h>
#include <stdio.h>

int main(void) {
  float logits[2][3] = {{1, 2, 3}, {2, 0.5f, -1}}, probs[2][3], grad[2][3], loss;
  int64_t targets[2] = {2, 0};
  softxent_softmax_f32(2, 3, logits[0], 3, probs[0], 3, NULL); /* rows, cols, data, row stride */
  softxent_status status = softxent_cross_entropy_f32(2, 3, logits[0], 3, targets, NULL, &loss, grad[0], 3, NULL);
  if (status != SOFTXENT_OK) { printf("error: %s\n", softxent_status_string(status)); return 1; }
  printf("mean loss %.4f\n", loss);
  for (int r = 0; r < 2; r++)
    for (int c = 0; c < 3; c++) printf("row %d class %d: p = %.3f  grad = %+.3f\n", r, c, probs[r][c], grad[r][c]);

  /* Half precision: bfloat16 logits (bit patterns of 1, 2, 3) in, float16 probabilities out. */
  const uint16_t logits16[3] = {0x3f80, 0x4000, 0x4040};
  uint16_t probs16[3];
  softxent_const_matrix x = {logits16, SOFTXENT_BF16, 3}; /* data, dtype, row stride */
  softxent_matrix y = {probs16, SOFTXENT_F16, 3};
  softxent_softmax(1, 3, x, y, NULL, NULL); /* NULL: no logit transform, default exec */
  for (int c = 0; c < 3; c++) printf("bf16 class %d: f16 p = 0x%04x\n", c, probs16[c]);
  return 0;
}
