#include <softxent/softxent.hpp>
#include <cstdio>

int main() {
  float logits[2][3] = {{1, 2, 3}, {2, 0.5f, -1}}, probs[2][3], grad[2][3], loss;
  std::int64_t targets[2] = {2, 0};
  softxent::softmax({logits[0], 2, 3}, {probs[0], 2, 3}); // views: data, rows, cols (, row stride)
  softxent::status status = softxent::cross_entropy({logits[0], 2, 3}, targets, &loss, {grad[0], 2, 3});
  if (status != softxent::status::ok) return std::printf("error: %s\n", softxent::status_string(status)), 1;
  std::printf("mean loss %.4f\n", loss);
  for (int r = 0; r < 2; r++)
    std::printf("probs %.3f %.3f %.3f  grad %+.3f %+.3f %+.3f\n", probs[r][0], probs[r][1], probs[r][2], grad[r][0], grad[r][1], grad[r][2]);
}
