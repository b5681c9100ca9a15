#include "bench_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
growing_pool<std::uint16_t> half_input_pool;      // the same values as input_pool, in f16
growing_pool<std::uint16_t> bfloat16_input_pool;  // and in bf16
growing_pool<float> output_pool;
growing_pool<float> row_output_pool;
growing_pool<float> evict_pool;
std::map<std::size_t, growing_pool<std::int64_t>> target_pools;  // by cols

void fill_unit_floats(float* p, std::size_t n) {
  random_bits bits{12345};
  for (std::size_t i = 0; i < n; ++i) p[i] = bits.unit_float();
}
template <std::uint16_t (*Encode)(float)>
void fill_unit_halves(std::uint16_t* p, std::size_t n) {
  random_bits bits{12345};
  for (std::size_t i = 0; i < n; ++i) p[i] = Encode(bits.unit_float());
}
void fill_zeros(float* p, std::size_t n) { std::fill(p, p + n, 0.0f); }

// The input pool of a dtype, grown to at least `elements`.
const void* reserve_inputs(softxent::dtype dtype, std::size_t elements) {
  switch (dtype) {
    case softxent::dtype::f16: return half_input_pool.reserve(elements, fill_unit_halves<encode_half>);
    case softxent::dtype::bf16: return bfloat16_input_pool.reserve(elements, fill_unit_halves<encode_bfloat16>);
    case softxent::dtype::f32: break;
  }
  return input_pool.reserve(elements, fill_unit_floats);
}

std::uint32_t bits_of(float f) noexcept {
  std::uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

}  // namespace

std::uint16_t encode_bfloat16(float value) noexcept {
  const std::uint32_t b = bits_of(value);
  if (std::isnan(value)) return static_cast<std::uint16_t>((b >> 16) | 0x40);
  return static_cast<std::uint16_t>((b + 0x7fff + ((b >> 16) & 1)) >> 16);  // to nearest, ties to even
}

std::uint16_t encode_half(float value) noexcept {
  const std::uint32_t b = bits_of(value);
  const auto sign = static_cast<std::uint16_t>((b >> 16) & 0x8000);
  const std::uint32_t magnitude = b & 0x7fffffff;
  if (magnitude > 0x7f800000) return static_cast<std::uint16_t>(sign | 0x7e00);  // NaN
  if (magnitude >= 0x477ff000) return static_cast<std::uint16_t>(sign | 0x7c00); // rounds to infinity
  if (magnitude < 0x38800000) {  // below 2^-14: a subnormal half, in units of 2^-24 (exact in float)
    const float units = std::fabs(value) * 0x1p24f;
    return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(std::nearbyint(units)));
  }
  // A normal half: rebias the exponent (127 -> 15) and drop 13 mantissa bits, to nearest, ties to even.
  const std::uint32_t rounded = magnitude + 0xfff + ((magnitude >> 13) & 1) - (std::uint32_t{112} << 23);
  return static_cast<std::uint16_t>(sign | (rounded >> 13));
}

float decode_element(softxent::dtype dtype, const void* data, std::size_t index) noexcept {
  if (dtype == softxent::dtype::f32) return static_cast<const float*>(data)[index];
  const std::uint16_t h = static_cast<const std::uint16_t*>(data)[index];
  if (dtype == softxent::dtype::bf16) {
    const std::uint32_t b = std::uint32_t{h} << 16;
    float f;
    std::memcpy(&f, &b, sizeof f);
    return f;
  }
  const float sign = (h & 0x8000) != 0 ? -1.0f : 1.0f;
  const int exponent = (h >> 10) & 31;
  const auto mantissa = static_cast<float>(h & 1023);
  if (exponent == 31) return mantissa != 0.0f ? std::nanf("") : sign * HUGE_VALF;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  return sign * std::ldexp(1024.0f + mantissa, exponent - 25);
}

std::size_t element_bytes(softxent::dtype dtype) noexcept { return dtype == softxent::dtype::f32 ? 4 : 2; }

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
  std::size_t bytes = matrices * s.elements() * element_bytes(op);
  if (op.reads_targets) bytes += s.rows * sizeof(std::int64_t);
  bytes += static_cast<std::size_t>(op.floats_written_per_row) * s.rows * sizeof(float);
  return bytes;
}

namespace {

// What the buffer sets of one operation and shape take from the pools.
struct pool_needs {
  std::size_t sets;
  std::size_t matrix_bytes;    // one matrix, rounded up to a 64-byte multiple
  std::size_t input_elements;  // of the operation's dtype
  std::size_t output_floats;
  std::size_t row_output_floats;
  std::size_t targets;
};

pool_needs needs_of(const operation_traits& op, const shape& s, regime r) {
  const std::size_t sets = rotation_sets(minimum_traffic_bytes(op, s), r);
  const std::size_t matrix_bytes = round_up(s.elements() * element_bytes(op), 64);
  return {sets, matrix_bytes, sets * static_cast<std::size_t>(op.matrices_read) * matrix_bytes / element_bytes(op),
          sets * matrix_bytes / sizeof(float), sets * round_up(s.rows, cache_line_floats),
          op.reads_targets ? sets * s.rows : 0};
}

void fill_targets(std::size_t cols, std::int64_t* t, std::size_t n) {
  random_bits bits{777};
  for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<std::int64_t>(bits.next() % cols);
}

// Every operation and shape registered, for reserve_buffers.
std::vector<std::pair<operation_traits, shape>> registered_cases;

}  // namespace

void reserve_buffers() {
  std::map<softxent::dtype, std::size_t> inputs;  // elements, by dtype
  std::size_t output_floats = 0, row_output_floats = 0;
  std::map<std::size_t, std::size_t> targets;     // by cols
  for (const auto& [op, s] : registered_cases) {
    const pool_needs n = needs_of(op, s, regime::cold);
    inputs[op.dtype] = std::max(inputs[op.dtype], n.input_elements);
    output_floats = std::max(output_floats, n.output_floats);
    row_output_floats = std::max(row_output_floats, n.row_output_floats);
    targets[s.cols] = std::max(targets[s.cols], n.targets);
  }
  for (const auto& [dtype, elements] : inputs) reserve_inputs(dtype, elements);
  output_pool.reserve(output_floats, fill_zeros);
  evict_pool.reserve(config().rotation_bytes / 2 / sizeof(float), fill_zeros);
  row_output_pool.reserve(row_output_floats, fill_zeros);
  for (const auto& [cols, count] : targets)
    if (count > 0)
      target_pools[cols].reserve(count, [cols = cols](std::int64_t* t, std::size_t n) { fill_targets(cols, t, n); });
}

buffer_sets::buffer_sets(const operation_traits& op, const shape& s, regime r)
    : shape_(s), dtype_(op.dtype), inputs_(op.matrices_read) {
  const pool_needs needs = needs_of(op, s, r);
  count_ = needs.sets;
  matrix_bytes_ = needs.matrix_bytes;
  input_base_ = static_cast<const unsigned char*>(reserve_inputs(op.dtype, needs.input_elements));
  output_base_ = reinterpret_cast<unsigned char*>(output_pool.reserve(needs.output_floats, fill_zeros));
  row_output_base_ = row_output_pool.reserve(needs.row_output_floats, fill_zeros);
  targets_base_ = nullptr;
  if (op.reads_targets) {
    const std::size_t cols = s.cols;
    targets_base_ = target_pools[cols].reserve(needs.targets, [cols](std::int64_t* t, std::size_t n) {
      fill_targets(cols, t, n);
    });
  }
  touch_pages(input_base_, count_ * static_cast<std::size_t>(inputs_) * matrix_bytes_, false);
  touch_pages(output_base_, count_ * matrix_bytes_, true);
  touch_pages(row_output_base_, needs.row_output_floats * sizeof(float), true);
}

const void* buffer_sets::input_data(std::size_t set, int which) const noexcept {
  return input_base_ + (set * static_cast<std::size_t>(inputs_) + static_cast<std::size_t>(which)) * matrix_bytes_;
}
void* buffer_sets::output_data(std::size_t set) const noexcept { return output_base_ + set * matrix_bytes_; }
softxent::const_any_matrix buffer_sets::input_matrix(std::size_t set, int which) const noexcept {
  return {input_data(set, which), dtype_, shape_.rows, shape_.cols, shape_.cols};
}
softxent::any_matrix buffer_sets::output_matrix(std::size_t set) const noexcept {
  return {output_data(set), dtype_, shape_.rows, shape_.cols, shape_.cols};
}
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
  state.counters["element_bytes"] = static_cast<double>(element_bytes(op));
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

softxent::softmax_options row_transform(const softxent::softmax_options& whole, std::size_t r) noexcept {
  softxent::softmax_options row = whole;
  if (whole.mask.data != nullptr) {
    const std::size_t offset = (r % whole.mask.rows) * whole.mask.stride * element_bytes(whole.mask.dtype);
    row.mask = {static_cast<const unsigned char*>(whole.mask.data) + offset, whole.mask.dtype, 1, whole.mask.cols,
                whole.mask.stride};
  }
  const std::size_t head = whole.rows_per_head == 0 ? 0 : r / whole.rows_per_head;
  row.rows_per_head = 0;
  if (whole.slopes != nullptr) row.slopes = whole.slopes + head;
  if (whole.sinks != nullptr) row.sinks = whole.sinks + head;
  if (whole.valid_cols != nullptr) row.valid_cols = whole.valid_cols + r;
  return row;
}

namespace {

// Half an ulp of the output type, twice over (the peer's rounding and its float error), beside the float
// checks' 1e-4.
double output_tolerance(softxent::dtype dtype) {
  switch (dtype) {
    case softxent::dtype::bf16: return 0x1p-7;
    case softxent::dtype::f16: return 0x1p-10;
    case softxent::dtype::f32: break;
  }
  return 1e-4;
}

}  // namespace

bool matches_reference(const operation_traits& op, const shape& s, const buffer_sets& sets, std::size_t set,
                       std::string* message, const softxent::softmax_options* transform) {
  softxent::exec_options reference;
  reference.threads = 1;
  reference.isa = "reference";
  const std::string name = op.checked_as;
  const double tolerance = output_tolerance(op.dtype);
  std::vector<float> want(s.cols);
  std::vector<float> got(s.cols);
  std::vector<std::size_t> rows{0, s.rows / 2, s.rows - 1};
  // Row r of a matrix of the operation's dtype, as a one-row view.
  const auto row_of = [&](const void* data, std::size_t r) {
    return softxent::const_any_matrix{static_cast<const unsigned char*>(data) + r * s.cols * element_bytes(op),
                                      op.dtype, 1, s.cols, s.cols};
  };
  for (std::size_t r : rows) {
    const softxent::const_any_matrix x = row_of(sets.input_data(set, 0), r);
    const softxent::any_matrix y = softxent::matrix{want.data(), 1, s.cols};
    const softxent::softmax_options options = transform != nullptr ? row_transform(*transform, r)
                                                                   : softxent::softmax_options{};
    for (std::size_t j = 0; j < s.cols; ++j) got[j] = decode_element(op.dtype, sets.output_data(set), r * s.cols + j);
    softxent::status status = softxent::status::ok;
    float want_loss = 0.0f;
    softxent::cross_entropy_options per_row;
    per_row.reduction = softxent::reduction::none;
    if (name == "logsumexp") {
      status = softxent::logsumexp(x, &want_loss, options, reference);
    } else if (name == "softmax") {
      status = softxent::softmax(x, y, options, reference);
    } else if (name == "log_softmax") {
      status = softxent::log_softmax(x, y, options, reference);
    } else if (name == "softmax_backward" || name == "log_softmax_backward") {
      const softxent::const_any_matrix dy = row_of(sets.input_data(set, 1), r);
      status = name == "softmax_backward" ? softxent::softmax_backward(x, dy, y, reference)
                                          : softxent::log_softmax_backward(x, dy, y, reference);
    } else if (name == "cross_entropy_loss" || name == "cross_entropy_grad") {
      status = softxent::cross_entropy(x, sets.targets(set) + r, &want_loss, y, per_row, reference);
    } else if (name == "cross_entropy_soft") {
      const softxent::const_any_matrix probs = row_of(sets.input_data(set, 1), r);
      status = softxent::cross_entropy_soft(x, probs, &want_loss, y, per_row, reference);
    } else {
      *message = "no reference check for " + std::string(op.name);
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
      match = values_match(&got_loss, &want_loss, 1, std::max(1e-4, tolerance), &mismatch);
      if (match && op.matrices_written == 1) {
        // The foreign gradient is of the mean loss: scale it back to the row's own. In 16 bits, autograd
        // rounds the log-probabilities to the type before its backward: p = exp(log p) then carries half
        // an ulp of log p, up to 2^-8 |log p| relative (|log p| < 16 on these rows), beside the output's.
        for (std::size_t j = 0; j < s.cols; ++j) got[j] *= static_cast<float>(s.rows);
        const double gradient_tolerance = op.dtype == softxent::dtype::f32 ? 1e-3 : 16 * 0x1p-8 + tolerance;
        match = values_match(got.data(), want.data(), s.cols, gradient_tolerance, &mismatch);
      }
    } else {
      match = values_match(got.data(), want.data(), s.cols, tolerance, &mismatch);
    }
    if (!match) {
      *message = std::string(op.name) + " differs from the reference in row " + std::to_string(r) + ": " + mismatch;
      return false;
    }
  }
  return true;
}

}  // namespace softxent_bench
