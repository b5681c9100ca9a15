#include "bench_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <utility>

namespace softxent_bench {
namespace {

run_config current_config;

constexpr std::size_t cache_line_floats = 16;

// A small deterministic generator: the same inputs in every run.
struct random_bits {
  std::uint64_t state;
  std::uint32_t next() noexcept {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::uint32_t>(state >> 32);
  }
  float unit_float() noexcept { return static_cast<float>(next() >> 8) * 0x1p-24f; }  // [0, 1)
};

growing_pool<float> input_pool;
growing_pool<float> output_pool;
growing_pool<float> row_output_pool;
growing_pool<float> evict_pool;
std::map<std::size_t, growing_pool<std::int64_t>> target_pools;  // by cols

void fill_unit_floats(float* p, std::size_t n) {
  random_bits bits{12345};
  for (std::size_t i = 0; i < n; ++i) p[i] = bits.unit_float();
}
void fill_zeros(float* p, std::size_t n) { std::fill(p, p + n, 0.0f); }

}  // namespace

std::size_t rotation_sets(std::size_t set_bytes, regime r) noexcept {
  if (r == regime::hot) return 1;
  set_bytes = std::max<std::size_t>(set_bytes, 1);
  return std::clamp<std::size_t>((config().rotation_bytes + set_bytes - 1) / set_bytes, 1, max_buffer_sets);
}

const run_config& config() { return current_config; }
const char* regime_name(regime r) noexcept { return r == regime::hot ? "hot" : "cold"; }
void set_config(const run_config& c) { current_config = c; }

std::size_t minimum_traffic_bytes(const operation_traits& op, const shape& s) noexcept {
  const auto matrices = static_cast<std::size_t>(op.matrices_read + op.matrices_written);
  std::size_t bytes = matrices * s.elements() * sizeof(float);
  if (op.reads_targets) bytes += s.rows * sizeof(std::int64_t);
  bytes += static_cast<std::size_t>(op.floats_written_per_row) * s.rows * sizeof(float);
  return bytes;
}

namespace {

// What the buffer sets of one operation and shape take from the pools.
struct pool_needs {
  std::size_t sets;
  std::size_t input_floats;
  std::size_t output_floats;
  std::size_t row_output_floats;
  std::size_t targets;
};

pool_needs needs_of(const operation_traits& op, const shape& s, regime r) {
  const std::size_t sets = rotation_sets(minimum_traffic_bytes(op, s), r);
  const std::size_t matrix = round_up(s.elements(), cache_line_floats);
  return {sets, sets * static_cast<std::size_t>(op.matrices_read) * matrix, sets * matrix,
          sets * round_up(s.rows, cache_line_floats), op.reads_targets ? sets * s.rows : 0};
}

void fill_targets(std::size_t cols, std::int64_t* t, std::size_t n) {
  random_bits bits{777};
  for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<std::int64_t>(bits.next() % cols);
}

// Every operation and shape registered, for reserve_buffers.
std::vector<std::pair<operation_traits, shape>> registered_cases;

}  // namespace

void reserve_buffers() {
  pool_needs most{0, 0, 0, 0, 0};
  std::map<std::size_t, std::size_t> targets;  // by cols
  for (const auto& [op, s] : registered_cases) {
    const pool_needs n = needs_of(op, s, regime::cold);
    most.input_floats = std::max(most.input_floats, n.input_floats);
    most.output_floats = std::max(most.output_floats, n.output_floats);
    most.row_output_floats = std::max(most.row_output_floats, n.row_output_floats);
    targets[s.cols] = std::max(targets[s.cols], n.targets);
  }
  input_pool.reserve(most.input_floats, fill_unit_floats);
  output_pool.reserve(most.output_floats, fill_zeros);
  evict_pool.reserve(config().rotation_bytes / 2 / sizeof(float), fill_zeros);
  row_output_pool.reserve(most.row_output_floats, fill_zeros);
  for (const auto& [cols, count] : targets)
    if (count > 0)
      target_pools[cols].reserve(count, [cols = cols](std::int64_t* t, std::size_t n) { fill_targets(cols, t, n); });
}

buffer_sets::buffer_sets(const operation_traits& op, const shape& s, regime r)
    : shape_(s), inputs_(op.matrices_read), matrix_floats_(round_up(s.elements(), cache_line_floats)) {
  const pool_needs needs = needs_of(op, s, r);
  count_ = needs.sets;
  input_base_ = input_pool.reserve(needs.input_floats, fill_unit_floats);
  output_base_ = output_pool.reserve(needs.output_floats, fill_zeros);
  row_output_base_ = row_output_pool.reserve(needs.row_output_floats, fill_zeros);
  targets_base_ = nullptr;
  if (op.reads_targets) {
    const std::size_t cols = s.cols;
    targets_base_ = target_pools[cols].reserve(needs.targets, [cols](std::int64_t* t, std::size_t n) {
      fill_targets(cols, t, n);
    });
  }
  touch_pages(input_base_, needs.input_floats * sizeof(float), false);
  touch_pages(output_base_, needs.output_floats * sizeof(float), true);
  touch_pages(row_output_base_, needs.row_output_floats * sizeof(float), true);
}

const float* buffer_sets::input(std::size_t set, int which) const noexcept {
  return input_base_ + (set * static_cast<std::size_t>(inputs_) + static_cast<std::size_t>(which)) * matrix_floats_;
}
float* buffer_sets::output(std::size_t set) const noexcept { return output_base_ + set * matrix_floats_; }
float* buffer_sets::row_output(std::size_t set) const noexcept {
  return row_output_base_ + set * round_up(shape_.rows, cache_line_floats);
}
const std::int64_t* buffer_sets::targets(std::size_t set) const noexcept {
  return targets_base_ == nullptr ? nullptr : targets_base_ + set * shape_.rows;
}

void set_rate_counters(benchmark::State& state, const operation_traits& op, const shape& s, std::size_t sets) {
  const auto iterations = static_cast<std::int64_t>(state.iterations());
  state.SetItemsProcessed(iterations * static_cast<std::int64_t>(s.elements()));
  state.SetBytesProcessed(iterations * static_cast<std::int64_t>(minimum_traffic_bytes(op, s)));
  state.counters["rows"] = static_cast<double>(s.rows);
  state.counters["cols"] = static_cast<double>(s.cols);
  state.counters["sets"] = static_cast<double>(sets);
  state.counters["matrices_read"] = op.matrices_read;
  state.counters["matrices_written"] = op.matrices_written;
  state.counters["exp_per_element"] = op.uses_exp ? 1.0 : 0.0;
}

void touch_pages(const void* data, std::size_t bytes, bool write) {
  constexpr std::size_t page = 4096;
  auto* bytes_of = static_cast<unsigned char*>(const_cast<void*>(data));
  unsigned sum = 0;
  for (std::size_t i = 0; i < bytes; i += page) {
    if (write) {
      bytes_of[i] = 0;
    } else {
      sum += bytes_of[i];
    }
  }
  benchmark::DoNotOptimize(sum);
}

void evict_caches() {
  const std::size_t floats = config().rotation_bytes / 2 / sizeof(float);
  const float* data = evict_pool.reserve(floats, fill_zeros);
  float sum = 0.0f;
  for (std::size_t i = 0; i < floats; i += cache_line_floats) sum += data[i];
  benchmark::DoNotOptimize(sum);
}

namespace {
std::map<std::string, std::string> verdicts;
}  // namespace

bool passes_check(benchmark::State& state, const std::string& key, const std::function<std::string()>& check) {
  auto found = verdicts.find(key);
  if (found == verdicts.end()) found = verdicts.emplace(key, check()).first;
  if (found->second.empty()) return true;
  state.SkipWithError(found->second.c_str());
  return false;
}

double current_budget = 0.05;

double repetition_budget() { return current_budget; }

benchmark::internal::Benchmark* register_benchmark(const std::string& operation, const std::string& implementation,
                                                   const std::string& shape_name, const std::string& regime_text,
                                                   int threads, std::function<void(benchmark::State&)> body,
                                                   double budget) {
  return register_named_benchmark(operation + "/" + implementation + "/" + shape_name + "/" + regime_text +
                                      "/threads:" + std::to_string(threads),
                                  std::move(body), budget);
}

void register_cases(const operation_traits& op, const std::string& implementation, case_body body, double budget,
                    const case_set& cases) {
  const std::vector<shape>& shapes = cases.shapes.empty() ? config().shapes : cases.shapes;
  const std::vector<int>& thread_counts = cases.threads.empty() ? config().thread_counts : cases.threads;
  const int repetitions = cases.at_most_repetitions > 0 ? std::min(config().repetitions, cases.at_most_repetitions)
                                                        : config().repetitions;
  for (const shape& s : shapes) {
    registered_cases.emplace_back(op, s);
    for (regime r : config().regimes)
      for (int threads : thread_counts)
        register_benchmark(op.name, implementation, s.name(), regime_name(r), threads,
                           [body, s, r, threads](benchmark::State& state) { body(state, s, r, threads); }, budget)
            ->Repetitions(repetitions);
  }
}

benchmark::internal::Benchmark* register_named_benchmark(const std::string& name,
                                                         std::function<void(benchmark::State&)> body,
                                                         double budget) {
  auto with_budget = [body = std::move(body), budget](benchmark::State& state) {
    current_budget = budget;
    body(state);
  };
  return benchmark::RegisterBenchmark(name.c_str(), std::move(with_budget))
      ->UseManualTime()
      ->Iterations(1)
      ->Unit(benchmark::kMicrosecond)
      ->Repetitions(config().repetitions);
}

bool softxent_exec(benchmark::State& state, const std::string& isa, int threads, softxent::exec_options* exec) {
  exec->threads = threads;
  exec->isa = isa.c_str();  // the caller's string outlives the benchmark
  if (softxent::isa(*exec) != nullptr) return true;
  state.SkipWithError(("this build or CPU lacks the instruction set " + isa).c_str());
  return false;
}

bool first_call_ok(benchmark::State& state, softxent::status first) {
  if (first == softxent::status::ok) return true;
  state.SkipWithError(softxent::status_string(first));
  return false;
}

void register_softxent_benchmarks(const operation_traits& op, softxent_call call, const std::vector<shape>& shapes) {
  for (const std::string& isa : config().isas) {
    const bool reference = isa == "reference";
    const auto body = [op, call, isa](benchmark::State& state, const shape& s, regime r, int threads) {
      softxent::exec_options exec;
      if (!softxent_exec(state, isa, threads, &exec)) return;
      const buffer_sets sets(op, s, r);
      if (!first_call_ok(state, call(s, sets, 0, exec))) return;
      time_rotating(state, op, s, sets, [&](std::size_t set) { call(s, sets, set, exec); });
    };
    if (reference)  // slow, and no target depends on it: a median of 3 suffices
      register_cases(op, isa, body, config().reference_min_time, {shapes, {1}, 3});
    else
      register_cases(op, "softxent-" + isa, body, config().min_time, {shapes, {}, 0});
  }
}

namespace {

// got[0, n) == want[0, n) within relative * |want_j| + 1e-5 * max_k |want_k| (the second term for
// results that cancel); equal infinities match.
bool values_match(const float* got, const float* want, std::size_t n, double relative, std::string* message) {
  double largest = 0.0;
  for (std::size_t j = 0; j < n; ++j)
    if (std::isfinite(want[j])) largest = std::max(largest, static_cast<double>(std::fabs(want[j])));
  for (std::size_t j = 0; j < n; ++j) {
    const double g = got[j];
    const double w = want[j];
    if (std::isinf(w) && g == w) continue;
    if (!(std::fabs(g - w) <= relative * std::fabs(w) + 1e-5 * largest + 1e-30)) {
      char text[160];
      std::snprintf(text, sizeof text, "element %zu is %.9g where the reference has %.9g", j, g, w);
      *message = text;
      return false;
    }
  }
  return true;
}

}  // namespace

bool matches_reference(const operation_traits& op, const shape& s, const buffer_sets& sets, std::size_t set,
                       std::string* message) {
  softxent::exec_options reference;
  reference.threads = 1;
  reference.isa = "reference";
  const std::string name = op.name;
  std::vector<float> want(s.cols);
  std::vector<float> got(s.cols);
  std::vector<std::size_t> rows{0, s.rows / 2, s.rows - 1};
  for (std::size_t r : rows) {
    const softxent::const_matrix x{sets.input(set, 0) + r * s.cols, 1, s.cols};
    const softxent::matrix y{want.data(), 1, s.cols};
    const float* output_row = sets.output(set) + r * s.cols;
    softxent::status status = softxent::status::ok;
    float want_loss = 0.0f;
    softxent::cross_entropy_options per_row;
    per_row.reduction = softxent::reduction::none;
    if (name == "logsumexp") {
      status = softxent::logsumexp(x, &want_loss, reference);
    } else if (name == "softmax") {
      status = softxent::softmax(x, y, reference);
    } else if (name == "log_softmax") {
      status = softxent::log_softmax(x, y, reference);
    } else if (name == "softmax_backward" || name == "log_softmax_backward") {
      const softxent::const_matrix dy{sets.input(set, 1) + r * s.cols, 1, s.cols};
      status = name == "softmax_backward" ? softxent::softmax_backward(x, dy, y, reference)
                                          : softxent::log_softmax_backward(x, dy, y, reference);
    } else if (name == "cross_entropy_loss" || name == "cross_entropy_grad") {
      status = softxent::cross_entropy(x, sets.targets(set) + r, &want_loss, y, per_row, reference);
    } else if (name == "cross_entropy_soft") {
      const softxent::const_matrix probs{sets.input(set, 1) + r * s.cols, 1, s.cols};
      status = softxent::cross_entropy_soft(x, probs, &want_loss, y, per_row, reference);
    } else {
      *message = "no reference check for " + name;
      return false;
    }
    if (status != softxent::status::ok) {
      *message = std::string("the reference failed: ") + softxent::status_string(status);
      return false;
    }
    std::string mismatch;
    bool match = true;
    const bool one_value_per_row = name == "logsumexp" || name.rfind("cross_entropy", 0) == 0;  // lse or loss
    if (one_value_per_row) {
      const float got_loss = sets.row_output(set)[r];
      match = values_match(&got_loss, &want_loss, 1, 1e-4, &mismatch);
      if (match && op.matrices_written == 1) {
        // The foreign gradient is of the mean loss: scale it back to the row's own.
        for (std::size_t j = 0; j < s.cols; ++j) got[j] = output_row[j] * static_cast<float>(s.rows);
        match = values_match(got.data(), want.data(), s.cols, 1e-3, &mismatch);
      }
    } else {
      match = values_match(output_row, want.data(), s.cols, 1e-4, &mismatch);
    }
    if (!match) {
      *message = name + " differs from the reference in row " + std::to_string(r) + ": " + mismatch;
      return false;
    }
  }
  return true;
}

}  // namespace softxent_bench
