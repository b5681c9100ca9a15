// A C++ program using softxent as a library user would: the version it was promised, a softmax, a
// fused cross-entropy with its gradient, and the same call through OpenMP (or one thread, when the
// library is built without it) and through a host thread pool, which must agree bitwise.
#include <softxent/softxent.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

namespace {

int failures = 0;

void expect(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "consumer_cpp: FAILED: %s\n", what);
    ++failures;
  }
}

// The simplest host pool: one std::thread per share of the units.
void run_on_threads(void* pool, std::size_t units, softxent::task body, void* context) {
  const std::size_t thread_count = *static_cast<const std::size_t*>(pool);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < thread_count; ++t) {
    const std::size_t first = units * t / thread_count;
    const std::size_t end = units * (t + 1) / thread_count;
    if (first < end) threads.emplace_back(body, context, first, end);
  }
  for (std::thread& thread : threads) thread.join();
}

}  // namespace

int main() {
  expect(std::strcmp(softxent::version(), SOFTXENT_EXPECTED_VERSION) == 0, "version");
  expect(softxent::isa() != nullptr, "an instruction set is available");

  const std::size_t rows = 64;
  const std::size_t cols = 1000;
  std::vector<float> logits(rows * cols);
  std::vector<std::int64_t> targets(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) logits[r * cols + c] = std::sin(static_cast<float>(r * cols + c));
    targets[r] = static_cast<std::int64_t>((r * 37) % cols);
  }

  std::vector<float> probabilities(rows * cols);
  expect(softxent::softmax({logits.data(), rows, cols}, {probabilities.data(), rows, cols}) == softxent::status::ok,
         "softmax returns ok");
  double first_row_sum = 0.0;
  for (std::size_t c = 0; c < cols; ++c) first_row_sum += probabilities[c];
  expect(std::fabs(first_row_sum - 1.0) < 1e-5, "softmax rows sum to 1");

  std::size_t pool_threads = 3;
  softxent::exec_options single_thread;
  single_thread.threads = 1;
  softxent::exec_options host_pool;
  host_pool.parallel_for = run_on_threads;
  host_pool.pool = &pool_threads;
  const softxent::exec_options runs[] = {softxent::exec_options{}, single_thread, host_pool};

  std::vector<std::vector<float>> gradients;
  std::vector<float> losses;
  for (const softxent::exec_options& exec : runs) {
    std::vector<float> gradient(rows * cols);
    float loss = 0.0f;
    expect(softxent::cross_entropy({logits.data(), rows, cols}, targets.data(), &loss,
                                   {gradient.data(), rows, cols}, {}, exec) == softxent::status::ok,
           "cross_entropy returns ok");
    gradients.push_back(gradient);
    losses.push_back(loss);
  }
  // Every class gets a gradient p_j - [j == t], divided by rows for the mean.
  const float expected = (probabilities[0] - (targets[0] == 0 ? 1.0f : 0.0f)) / static_cast<float>(rows);
  expect(std::fabs(gradients[0][0] - expected) < 1e-6f, "gradient = (p - onehot) / rows");
  for (std::size_t run = 1; run < losses.size(); ++run) {
    expect(std::memcmp(&losses[run], &losses[0], sizeof(float)) == 0, "loss identical across executions");
    expect(gradients[run] == gradients[0], "gradient identical across executions");
  }

  std::printf("consumer_cpp: softxent %s (%s), loss %.6f: %s\n", softxent::version(), softxent::isa(),
              static_cast<double>(losses[0]), failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
