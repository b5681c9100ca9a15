#include <softxent/softxent.h>
#include <stdio.h>

int main(void) {
  float logits[2][3] = {{1, 2, 3}, {2, 0.5f, -1}}, probs[2][3], grad[2][3], loss;
  int64_t targets[2] = {2, 0};
  softxent_softmax_f32(2, 3, logits[0], 3, probs[0], 3, NULL); /* rows, cols, data, row stride */
  softxent_status status = softxent_cross_entropy_f32(2, 3, logits[0], 3, targets, NULL, &loss, grad[0], 3, NULL);
  if (status != SOFTXENT_OK) return printf("error: %s\n", softxent_status_string(status)), 1;
  printf("mean loss %.4f\n", loss);
  for (int r = 0; r < 2; r++)
    printf("probs %.3f %.3f %.3f  grad %+.3f %+.3f %+.3f\n", probs[r][0], probs[r][1], probs[r][2], grad[r][0], grad[r][1], grad[r][2]);
  return 0;
}
