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
  return 0;
}
