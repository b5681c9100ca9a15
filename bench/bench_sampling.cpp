// Top-k and sampling against softxent's own logsumexp of the same rows (one read of every logit and
// one exponential each: what any sampler must at least do), hot (the same logits call after call, as
// a decoding step finds them just written by the output layer's GEMM).
//
// Names: "<operation>/<logits>/<rows>x<cols>/threads:<n>", operation one of logsumexp, top_k_<k>,
// greedy, top_p (temperature 0.8, top_p 0.9), top_k_40, min_p (0.05), plain (temperature 1);
// logits "peaked" (LLM-like: a normal bulk with a few tokens far above it, so that top_p and min_p keep
// a handful) or "normal" (N(0, 2.5) and nothing above: top_p 0.9 at temperature 0.8 keeps thousands
// of classes, the threshold search's case). Compare each time with logsumexp's of the same logits,
// shape and threads (scripts or by eye: the JSON output has them side by side).
//
// Usage: softxent_bench_sampling [Google Benchmark flags], e.g. --benchmark_min_time=0.2
//        --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <softxent/softxent.hpp>

#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

struct shape {
  std::size_t rows, cols;
  std::string name() const { return std::to_string(rows) + "x" + std::to_string(cols); }
};
constexpr shape shapes[] = {{1, 128256}, {1, 256000}, {64, 128256}, {8, 32000}};

enum class logits_kind { peaked, normal };
const char* name_of(logits_kind kind) { return kind == logits_kind::peaked ? "peaked" : "normal"; }

// One matrix of logits per kind and shape, made once.
const std::vector<float>& logits_for(logits_kind kind, const shape& s) {
  static std::map<std::string, std::vector<float>> made;
  std::vector<float>& x = made[std::string(name_of(kind)) + s.name()];
  if (!x.empty()) return x;
  x.resize(s.rows * s.cols);
  std::mt19937_64 engine(2024 + s.rows * 7 + s.cols);
  std::normal_distribution<float> bulk(0.0f, kind == logits_kind::peaked ? 2.0f : 2.5f);
  std::exponential_distribution<float> spike(1.0f / 6.0f);
  std::uniform_int_distribution<std::size_t> column(0, s.cols - 1);
  for (std::size_t r = 0; r < s.rows; ++r) {
    float* row = x.data() + r * s.cols;
    for (std::size_t j = 0; j < s.cols; ++j) row[j] = bulk(engine);
    if (kind == logits_kind::peaked)
      for (int i = 0; i < 20; ++i) row[column(engine)] += 6.0f + spike(engine);
  }
  return x;
}

struct operation {
  std::string name;
  std::size_t k;                       // top_k's k; 0: sampling
  softxent::sampling_options sampling;
};
std::vector<operation> operations() {
  std::vector<operation> ops;
  ops.push_back({"logsumexp", 0, {}});
  for (std::size_t k : {std::size_t{1}, std::size_t{8}, std::size_t{64}}) ops.push_back({"top_k_" + std::to_string(k), k, {}});
  softxent::sampling_options o;
  o.temperature = 0.0f;
  ops.push_back({"greedy", 0, o});
  o = {};
  o.temperature = 0.8f;
  o.top_p = 0.9f;
  ops.push_back({"top_p", 0, o});
  o = {};
  o.top_k = 40;
  ops.push_back({"top_k_40", 0, o});
  o = {};
  o.min_p = 0.05f;
  ops.push_back({"min_p", 0, o});
  ops.push_back({"plain", 0, {}});
  return ops;
}

void run(benchmark::State& state, const operation& op, logits_kind kind, const shape& s, int threads) {
  const std::vector<float>& x = logits_for(kind, s);
  const softxent::const_matrix logits(x.data(), s.rows, s.cols);
  softxent::exec_options exec;
  exec.threads = threads;
  std::vector<float> lse(s.rows), log_probs(s.rows * 64);
  std::vector<std::int64_t> indices(s.rows * 64);
  std::vector<std::uint64_t> seeds(s.rows);
  for (std::size_t r = 0; r < s.rows; ++r) seeds[r] = 1000 + r;
  softxent::sampling_options sampling = op.sampling;
  const auto call = [&] {
    if (op.name == "logsumexp") return softxent::logsumexp(logits, lse.data(), exec);
    if (op.k != 0) return softxent::top_k(logits, op.k, indices.data(), log_probs.data(), nullptr, {}, exec);
    return softxent::sample(logits, seeds.data(), indices.data(), log_probs.data(), sampling, {}, exec);
  };
  if (call() != softxent::status::ok) {
    state.SkipWithError("softxent call failed");
    return;
  }
  for (auto _ : state) {
    ++sampling.offset;  // a new draw every step, as decoding does
    benchmark::DoNotOptimize(call());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(s.rows * s.cols));
  state.counters["rows"] = static_cast<double>(s.rows);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  std::vector<int> thread_counts = {1};
  if (cores > 1) thread_counts.push_back(cores);
  for (logits_kind kind : {logits_kind::peaked, logits_kind::normal})
    for (const shape& s : shapes)
      for (int threads : thread_counts)
        for (const operation& op : operations()) {
          const std::string name = op.name + "/" + name_of(kind) + "/" + s.name() + "/threads:" + std::to_string(threads);
          benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) { run(state, op, kind, s, threads); })
              ->UseRealTime()
              ->Unit(benchmark::kMicrosecond);
        }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
