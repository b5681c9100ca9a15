// Measures each operation's largest error on every instruction set, as a fraction of SPEC.md's bound,
// against exact results computed here in long double (independent of the library's reference).
// Prints a Markdown table; README.md publishes it. Usage: softxent_accuracy_report [max_cols]
#include <softxent/softxent.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

constexpr double eps = 1.1920928955078125e-07;  // 2^-23

struct exact_row {
  long double max, lse;
  std::vector<long double> p;
};

exact_row exact(const float* x, std::size_t n) {
  exact_row e{-INFINITY, 0, std::vector<long double>(n)};
  for (std::size_t j = 0; j < n; ++j) e.max = std::max<long double>(e.max, x[j]);
  long double s = 0;
  for (std::size_t j = 0; j < n; ++j) s += std::exp(static_cast<long double>(x[j]) - e.max);
  e.lse = e.max + std::log(s);
  for (std::size_t j = 0; j < n; ++j) e.p[j] = std::exp(static_cast<long double>(x[j]) - e.lse);
  return e;
}

// Worst error / bound ratios of one ISA over rows of the given length.
struct worst {
  double softmax = 0, log_softmax = 0, lse = 0, grad = 0, softmax_backward = 0, log_softmax_backward = 0;
};

void measure(const char* isa, std::size_t rows, std::size_t cols, float spread, std::mt19937& rng, worst& w) {
  std::normal_distribution<float> normal(0.0f, spread);
  std::vector<float> x(rows * cols), y(rows * cols), dy(rows * cols), dx(rows * cols), lse(rows);
  for (float& v : x) v = normal(rng);
  for (float& v : dy) v = normal(rng) / spread;
  std::vector<std::int64_t> targets(rows);
  for (auto& t : targets) t = static_cast<std::int64_t>(rng() % cols);
  softxent::exec_options exec;
  exec.isa = isa;
  const softxent::const_matrix in(x.data(), rows, cols);
  const softxent::matrix out(y.data(), rows, cols);
  std::vector<exact_row> ex;
  for (std::size_t r = 0; r < rows; ++r) ex.push_back(exact(x.data() + r * cols, cols));

  softxent::logsumexp(in, lse.data(), exec);
  for (std::size_t r = 0; r < rows; ++r)
    w.lse = std::max(w.lse, double(std::fabs(lse[r] - ex[r].lse) / (8 * eps * (1 + std::fabs(ex[r].lse)))));
  softxent::softmax(in, out, exec);
  const auto p_bound = [&](std::size_t r, std::size_t j) {
    const long double p = ex[r].p[j];
    const double rel = (8 + std::fabs(double(x[r * cols + j] - ex[r].max))) * eps * double(p);
    return p < 1e-30L ? std::max(rel, 1e-37) : rel;
  };
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < cols; ++j)
      w.softmax = std::max(w.softmax, double(std::fabs(y[r * cols + j] - ex[r].p[j]) / p_bound(r, j)));
  softxent::log_softmax(in, out, exec);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < cols; ++j) {
      const long double exact_value = x[r * cols + j] - ex[r].lse;
      const double bound = (8 + std::fabs(double(x[r * cols + j] - ex[r].max))) * eps + 8 * eps * std::fabs(double(ex[r].lse));
      w.log_softmax = std::max(w.log_softmax, double(std::fabs(y[r * cols + j] - exact_value) / bound));
    }
  float loss = 0;
  softxent::cross_entropy(in, targets.data(), &loss, out, {}, exec);
  const double s = 1.0 / double(rows);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < cols; ++j) {
      const double onehot = j == std::size_t(targets[r]) ? 1.0 : 0.0;
      const long double exact_value = s * (ex[r].p[j] - onehot);
      const double bound = s * (p_bound(r, j) + 8 * eps * (double(ex[r].p[j]) + onehot));
      w.grad = std::max(w.grad, double(std::fabs(y[r * cols + j] - exact_value) / bound));
    }
  // Backward ops at y = softmax(x) and y = log_softmax(x), from the exact forward values rounded.
  std::vector<float> probs(rows * cols), logp(rows * cols);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < cols; ++j) {
      probs[r * cols + j] = float(ex[r].p[j]);
      logp[r * cols + j] = float(x[r * cols + j] - ex[r].lse);
    }
  softxent::softmax_backward({probs.data(), rows, cols}, {dy.data(), rows, cols}, {dx.data(), rows, cols}, exec);
  for (std::size_t r = 0; r < rows; ++r) {
    long double dot = 0, abs_dot = 0;
    for (std::size_t j = 0; j < cols; ++j) {
      dot += (long double)dy[r * cols + j] * probs[r * cols + j];
      abs_dot += std::fabs((long double)dy[r * cols + j] * probs[r * cols + j]);
    }
    for (std::size_t j = 0; j < cols; ++j) {
      const long double yj = probs[r * cols + j], exact_value = yj * (dy[r * cols + j] - dot);
      const double bound = 8 * eps * double(std::fabs(yj) * (std::fabs(dy[r * cols + j]) + abs_dot)) + 1e-37;
      w.softmax_backward = std::max(w.softmax_backward, double(std::fabs(dx[r * cols + j] - exact_value) / bound));
    }
  }
  softxent::log_softmax_backward({logp.data(), rows, cols}, {dy.data(), rows, cols}, {dx.data(), rows, cols}, exec);
  for (std::size_t r = 0; r < rows; ++r) {
    long double sum = 0, abs_sum = 0;
    for (std::size_t j = 0; j < cols; ++j) {
      sum += dy[r * cols + j];
      abs_sum += std::fabs((long double)dy[r * cols + j]);
    }
    for (std::size_t j = 0; j < cols; ++j) {
      const long double e = std::exp((long double)logp[r * cols + j]);
      const long double exact_value = dy[r * cols + j] - e * sum;
      const double bound = 8 * eps * double(std::fabs(dy[r * cols + j]) + e * abs_sum) + 1e-37;
      w.log_softmax_backward = std::max(w.log_softmax_backward, double(std::fabs(dx[r * cols + j] - exact_value) / bound));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t max_cols = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : (std::size_t{1} << 21);
  const char* isas[] = {"reference", "scalar", "sse2", "avx2", "avx512", "neon"};
  std::printf("| ISA | softmax | log_softmax | logsumexp | cross-entropy grad | softmax_backward | log_softmax_backward |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const char* isa : isas) {
    softxent::exec_options exec;
    exec.isa = isa;
    if (softxent::isa(exec) == nullptr) continue;
    std::mt19937 rng(42);
    worst w;
    for (std::size_t cols : {1u, 3u, 10u, 17u, 100u, 1000u, 4097u, 32000u, 128256u}) {
      if (cols > max_cols) continue;
      const std::size_t rows = std::max<std::size_t>(1, 200000 / cols);
      for (float spread : {1.0f, 10.0f, 40.0f}) measure(isa, rows, cols, spread, rng, w);
    }
    if (max_cols >= (std::size_t{1} << 21)) measure(isa, 1, std::size_t{1} << 21, 3.0f, rng, w);
    std::printf("| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", isa, w.softmax, w.log_softmax, w.lse, w.grad,
                w.softmax_backward, w.log_softmax_backward);
  }
  std::printf("\nEach cell: the largest |error| / SPEC.md bound over rows of 1 to 2^21 classes (<= 1 means within the bound).\n");
  return 0;
}
