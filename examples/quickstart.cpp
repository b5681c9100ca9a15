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
}
