#include <softxent/softxent.hpp>
#include <cstdio>

int main() {
  float logits[2][3] = {{1, 2, 3}, {2, 0.5f, -1}}, probs[2][3], grad[2][3], loss;
  std::int64_t targets[2] = {2, 0};
  softxent::softmax({logits[0], 2, 3}, {probs[0], 2, 3}); // views: data, rows, cols (, row stride)
  softxent::status status = softxent::cross_entropy({logits[0], 2, 3}, targets, &loss, {grad[0], 2, 3});
  if (status != softxent::status::ok) { std::printf("error: %s\n", softxent::status_string(status)); return 1; }
  std::printf("mean loss %.4f\n", loss);
  for (int r = 0; r < 2; r++)
    for (int c = 0; c < 3; c++) std::printf("row %d class %d: p = %.3f  grad = %+.3f\n", r, c, probs[r][c], grad[r][c]);

  // Half precision: bfloat16 logits (bit patterns of 1, 2, 3) in, float16 probabilities and float
  // log-probabilities out; any mix of float, softxent::half and softxent::bfloat16 views works.
  const softxent::bfloat16 logits16[3] = {{0x3f80}, {0x4000}, {0x4040}};
  softxent::half probs16[3];
  float log_probs[3];
  softxent::softmax(softxent::matrix_view<const softxent::bfloat16>(logits16, 1, 3), softxent::matrix_view<softxent::half>(probs16, 1, 3));
  softxent::log_softmax(softxent::matrix_view<const softxent::bfloat16>(logits16, 1, 3), softxent::matrix(log_probs, 1, 3));
  for (int c = 0; c < 3; c++) std::printf("bf16 class %d: f16 p = 0x%04x  log p = %+.3f\n", c, probs16[c].bits, log_probs[c]);
}
