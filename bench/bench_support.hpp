// What every benchmark of the suite shares: the shapes and options of a run, the memory traffic each
// operation must move, the two regimes (hot: one buffer set called back to back, so that data that fits
// stays in cache; cold: buffer sets rotated over at least 256 MiB, so that data comes from memory), the
// rate counters, and the check that a foreign library computes what the reference computes.
//
// Benchmark names are "<operation>/<implementation>/<rows>x<cols>/<regime>/threads:<n>" (Google
// Benchmark appends "/iterations:1/repeats:N/manual_time"); scripts/bench_report.py reads them back from
// the JSON outputs of softxent_bench and softxent_bench_pytorch.
#ifndef SOFTXENT_BENCH_SUPPORT_HPP
#define SOFTXENT_BENCH_SUPPORT_HPP

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "softxent/softxent.hpp"

namespace softxent_bench {

// hot: the same buffers every call (the inference case: logits just written by the GEMM before);
// cold: buffer sets rotated over at least run_config::rotation_bytes, so that data comes from memory.
enum class regime { hot, cold };
const char* regime_name(regime r) noexcept;

struct shape {
  std::size_t rows;
  std::size_t cols;
  std::size_t elements() const noexcept { return rows * cols; }
  std::string name() const { return std::to_string(rows) + "x" + std::to_string(cols); }
};

// The options of one run of the benchmark binary (see usage() in bench_main.cpp).
struct run_config {
  std::vector<shape> shapes;
  std::vector<std::string> isas;     // softxent instruction sets, "reference" among them
  std::vector<int> thread_counts;    // 1 and all the machine's cores
  std::vector<regime> regimes{regime::hot, regime::cold};
  double min_time = 0.05;            // seconds per repetition (a time budget, see time_calls)
  double reference_min_time = 0.005; // the reference is slow: one or a few calls suffice
  int repetitions = 3;
  std::size_t rotation_bytes = std::size_t{256} << 20;  // footprint a benchmark's cold buffer sets cover
  unsigned exp_sweep_stride = 16;    // the roof's exp is checked on every n-th float of [-87, 0]
  bool roof = true;
  bool compare = true;               // oneDNN and XNNPACK, when this build has them
};
const run_config& config();
void set_config(const run_config& c);

// The memory an operation must move at least (SPEC.md, "minimum traffic"): every input matrix read
// once, every output matrix written once, plus the per-row vectors (targets read, lse written).
struct operation_traits {
  const char* name;
  int matrices_read;
  int matrices_written;
  bool reads_targets;        // int64 class indices, one per row
  int floats_written_per_row;// lse: 1; reduced losses: 0
  bool uses_exp;             // one exp per element at least (the roof's exp term applies)
  softxent::dtype dtype;     // the element type of every matrix it reads and writes
  const char* checked_as;    // the float operation whose reference checks a peer's result ("": none)
};
inline constexpr softxent::dtype f32 = softxent::dtype::f32;
inline constexpr softxent::dtype f16 = softxent::dtype::f16;
inline constexpr softxent::dtype bf16 = softxent::dtype::bf16;
inline constexpr operation_traits logsumexp_traits{"logsumexp", 1, 0, false, 1, true, f32, "logsumexp"};
inline constexpr operation_traits softmax_traits{"softmax", 1, 1, false, 0, true, f32, "softmax"};
inline constexpr operation_traits log_softmax_traits{"log_softmax", 1, 1, false, 0, true, f32, "log_softmax"};
inline constexpr operation_traits softmax_backward_traits{"softmax_backward", 2, 1, false, 0, false, f32,
                                                          "softmax_backward"};
inline constexpr operation_traits log_softmax_backward_traits{"log_softmax_backward", 2, 1, false, 0, true, f32,
                                                              "log_softmax_backward"};
inline constexpr operation_traits cross_entropy_loss_traits{"cross_entropy_loss", 1, 0, true, 0, true, f32,
                                                            "cross_entropy_loss"};
inline constexpr operation_traits cross_entropy_grad_traits{"cross_entropy_grad", 1, 1, true, 0, true, f32,
                                                            "cross_entropy_grad"};
inline constexpr operation_traits cross_entropy_soft_traits{"cross_entropy_soft", 2, 1, false, 0, true, f32,
                                                            "cross_entropy_soft"};
// The roof's streams: read one matrix; read one and write one; read two and write one.
inline constexpr operation_traits roof_read_traits{"roof", 1, 0, false, 0, false, f32, ""};
inline constexpr operation_traits roof_copy_traits{"roof", 1, 1, false, 0, false, f32, ""};
inline constexpr operation_traits roof_add_traits{"roof", 2, 1, false, 0, false, f32, ""};

// An operation on matrices of another element type, under its own name.
constexpr operation_traits in_dtype(operation_traits op, const char* name, softxent::dtype dtype) {
  op.name = name;
  op.dtype = dtype;
  return op;
}
// Half precision: 16-bit inputs and outputs, 2 bytes an element each way (cross-entropy's loss stays
// float); "roof16": the roof's streams over the same bytes (16-bit matrices, half a float one's size).
inline constexpr operation_traits softmax_bf16_traits = in_dtype(softmax_traits, "softmax_bf16", bf16);
inline constexpr operation_traits softmax_f16_traits = in_dtype(softmax_traits, "softmax_f16", f16);
inline constexpr operation_traits log_softmax_bf16_traits = in_dtype(log_softmax_traits, "log_softmax_bf16", bf16);
inline constexpr operation_traits log_softmax_f16_traits = in_dtype(log_softmax_traits, "log_softmax_f16", f16);
inline constexpr operation_traits cross_entropy_grad_bf16_traits =
    in_dtype(cross_entropy_grad_traits, "cross_entropy_grad_bf16", bf16);
inline constexpr operation_traits roof16_read_traits = in_dtype(roof_read_traits, "roof16", bf16);
inline constexpr operation_traits roof16_copy_traits = in_dtype(roof_copy_traits, "roof16", bf16);

// Bytes of one element of the operation's matrices: 4 (f32) or 2 (f16, bf16).
std::size_t element_bytes(softxent::dtype dtype) noexcept;
inline std::size_t element_bytes(const operation_traits& op) noexcept { return element_bytes(op.dtype); }

std::size_t minimum_traffic_bytes(const operation_traits& op, const shape& s) noexcept;

inline std::size_t round_up(std::size_t n, std::size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// A page-aligned block that only grows; its pages are touched when it is allocated (fill writes every
// element) so that no benchmark pays for page faults.
template <class T>
class growing_pool {
 public:
  template <class Fill>
  T* reserve(std::size_t count, Fill&& fill) {
    if (count > size_) {
      const std::size_t bytes = round_up(count * sizeof(T), 4096);
      data_.reset(static_cast<T*>(std::aligned_alloc(4096, bytes)));
      if (!data_) {
        std::fprintf(stderr, "softxent_bench: cannot allocate %zu MiB\n", bytes >> 20);
        std::abort();
      }
      size_ = bytes / sizeof(T);
      fill(data_.get(), size_);
    }
    return data_.get();
  }

 private:
  struct free_deleter {
    void operator()(void* p) const noexcept { std::free(p); }
  };
  std::unique_ptr<T, free_deleter> data_;
  std::size_t size_ = 0;
};

// Buffer sets for one benchmark. Hot: one set. Cold: enough copies of the operation's matrices and row
// vectors that cycling through them touches at least config().rotation_bytes, so that no call finds its
// data in a cache the previous one warmed (at most max_buffer_sets, which only shapes under 4 KiB reach).
// Inputs hold values in [0, 1) (valid logits, probabilities and gradients alike; in f16 and bf16 the
// same values rounded to nearest) and are never written; outputs are separate. Targets are in [0, cols).
// All sets live in pools shared by every benchmark, sized once by reserve_buffers().
constexpr std::size_t max_buffer_sets = 65536;
// The sets a benchmark cycles through when one set moves set_bytes: 1 when hot; when cold, enough to
// cover config().rotation_bytes (at most max_buffer_sets).
std::size_t rotation_sets(std::size_t set_bytes, regime r) noexcept;
class buffer_sets {
 public:
  buffer_sets(const operation_traits& op, const shape& s, regime r);
  std::size_t count() const noexcept { return count_; }
  // Matrices of the operation's dtype; input() and output() are for f32 operations.
  const void* input_data(std::size_t set, int which) const noexcept;
  void* output_data(std::size_t set) const noexcept;
  const float* input(std::size_t set, int which) const noexcept {
    return static_cast<const float*>(input_data(set, which));
  }
  float* output(std::size_t set) const noexcept { return static_cast<float*>(output_data(set)); }
  softxent::const_any_matrix input_matrix(std::size_t set, int which) const noexcept;
  softxent::any_matrix output_matrix(std::size_t set) const noexcept;
  float* row_output(std::size_t set) const noexcept;  // rows floats
  const std::int64_t* targets(std::size_t set) const noexcept;
  softxent::dtype dtype() const noexcept { return dtype_; }

 private:
  shape shape_;
  softxent::dtype dtype_;
  int inputs_;
  std::size_t matrix_bytes_;  // one matrix rounded up to a 64-byte multiple
  std::size_t count_;
  const unsigned char* input_base_;
  unsigned char* output_base_;
  float* row_output_base_;
  const std::int64_t* targets_base_;
};

// f16 and bf16 bit patterns to and from float (rounding to nearest even), for inputs and checks.
float decode_element(softxent::dtype dtype, const void* data, std::size_t index) noexcept;
std::uint16_t encode_half(float value) noexcept;
std::uint16_t encode_bfloat16(float value) noexcept;

// Allocates and fills the shared pools once for every operation and shape registered (register_cases
// notes them), so that no benchmark pays for (or is interleaved with) their growth.
void reserve_buffers();

// Sets the rate counters of a finished benchmark: elements/s (items_per_second) and bytes/s of the
// minimum traffic (bytes_per_second), plus the shape and the number of buffer sets it cycled through.
void set_rate_counters(benchmark::State& state, const operation_traits& op, const shape& s, std::size_t sets);

// The time budget of one repetition of the running benchmark: the run's --min_time, or
// --reference_min_time for the reference (set by register_named_benchmark).
double repetition_budget();

// Times call(i) for i = 0, 1, 2, ... until the repetition's budget has passed (at least one call), as
// the single iteration of a manual-time benchmark. The calls run in windows: batches that double until
// one lasts at least `window` (budget / 16, at most 1 ms; a single call when a call is longer), and the
// time reported is the fastest window's time per call. On a shared machine most windows are free of
// other processes even when the whole budget is not: the fastest window measures the code, the mean
// (counter wall_per_call) measures the load too. Bounding each repetition by time, rather than by an
// iteration count fixed in the first repetition, keeps a run short when other processes slow some
// repetitions down a hundredfold (two threads on a busy machine).
template <class Call>
void time_calls(benchmark::State& state, Call&& call) {
  using clock = std::chrono::steady_clock;
  const double budget = repetition_budget();
  const double window = std::min(budget / 16, 1e-3);
  const auto seconds = [](clock::duration d) { return std::chrono::duration<double>(d).count(); };
  for (auto _ : state) {
    std::size_t calls = 0;
    std::size_t batch = 1;
    double fastest = 0.0;  // seconds per call in the fastest full window; 0 until there is one
    const clock::time_point start = clock::now();
    clock::time_point batch_start = start;
    for (;;) {
      for (std::size_t i = 0; i < batch; ++i) call(calls + i);
      calls += batch;
      const clock::time_point now = clock::now();
      const double took = seconds(now - batch_start);
      batch_start = now;
      if (took >= window) {
        const double per_call = took / static_cast<double>(batch);
        if (fastest == 0.0 || per_call < fastest) fastest = per_call;
      } else {
        batch *= 2;
      }
      if (seconds(now - start) >= budget) break;
    }
    const double mean = seconds(batch_start - start) / static_cast<double>(calls);
    state.SetIterationTime(fastest > 0.0 ? fastest : mean);
    state.counters["calls"] = static_cast<double>(calls);
    state.counters["wall_per_call"] = mean;
  }
}

// Touches every 4 KiB page of [data, data + bytes): reads it, or writes a zero where `write` (outputs).
// A buffer set left alone for a while costs a page fault per page on its next touch on some machines (a
// VM's host reclaims or merges idle pages): the sets are touched before a benchmark starts its clock.
void touch_pages(const void* data, std::size_t bytes, bool write);

// Reads a buffer of half the rotation footprint, so that no buffer set is left in any cache: every
// benchmark starts its sets at the same place in the shared pools, and the previous benchmark may have
// left some of them in the last-level cache.
void evict_caches();

// Times run(set) over the buffer sets in turn, then sets the rate counters. The caller has just made an
// untimed call on set 0: a hot benchmark (one set) then starts with its data where that call left it;
// a cold one evicts the caches and starts from set 1.
template <class Run>
void time_rotating(benchmark::State& state, const operation_traits& op, const shape& s, std::size_t sets,
                   Run&& run) {
  if (sets > 1) evict_caches();
  std::size_t set = sets > 1 ? 1 : 0;
  time_calls(state, [&](std::size_t) {
    run(set);
    if (++set == sets) set = 0;
  });
  set_rate_counters(state, op, s, sets);
}
template <class Run>
void time_rotating(benchmark::State& state, const operation_traits& op, const shape& s, const buffer_sets& sets,
                   Run&& run) {
  time_rotating(state, op, s, sets.count(), run);
}

// Registers one benchmark named "<operation>/<implementation>/<shape>/<regime>/threads:<n>" with the
// run's repetitions, each one call of body (which times itself with time_calls) under the time budget.
benchmark::internal::Benchmark* register_named_benchmark(const std::string& name,
                                                         std::function<void(benchmark::State&)> body,
                                                         double budget);
benchmark::internal::Benchmark* register_benchmark(const std::string& operation, const std::string& implementation,
                                                   const std::string& shape_name, const std::string& regime_text,
                                                   int threads, std::function<void(benchmark::State&)> body,
                                                   double budget);

// The body of one benchmark of an operation: shape, regime and thread count given.
using case_body = std::function<void(benchmark::State&, const shape&, regime, int threads)>;

// Which cases register_cases registers besides the run's regimes: empty lists mean the run's.
struct case_set {
  std::vector<shape> shapes;     // e.g. the fixed shapes of the sampling and transform cases
  std::vector<int> threads;      // e.g. {1} for the single-threaded reference
  int at_most_repetitions = 0;   // > 0: no more repetitions than this
};

// Registers body for every shape x regime x thread count of the case set, with the run's repetitions
// (or fewer), and notes the operation's shapes for reserve_buffers.
void register_cases(const operation_traits& op, const std::string& implementation, case_body body, double budget,
                    const case_set& cases = {});

// One softxent call on buffer set `set`; returns the call's status.
using softxent_call = std::function<softxent::status(const shape& s, const buffer_sets& sets, std::size_t set,
                                                     const softxent::exec_options& exec)>;

// The exec options of a softxent benchmark at an instruction set and thread count; false (the benchmark
// skipped with the reason) where this build or CPU lacks the instruction set.
bool softxent_exec(benchmark::State& state, const std::string& isa, int threads, softxent::exec_options* exec);
// True when the untimed first call succeeded; else skips the benchmark with the status.
bool first_call_ok(benchmark::State& state, softxent::status first);

// Registers op for every shape (the run's, or `shapes`), regime, instruction set and thread count of the
// run. The reference runs on one thread whatever it is asked (by design), so it is registered for one
// thread only.
void register_softxent_benchmarks(const operation_traits& op, softxent_call call,
                                  const std::vector<shape>& shapes = {});

// Checks a foreign library's result on buffer set `set` against softxent's reference on a few rows
// (first, middle, last), with the reference of op.checked_as on the operation's dtype and, when given,
// the logit transform (options for the whole matrix, which the check cuts to each row). The foreign
// code leaves its output matrix in sets.output_data(set), logsumexp's values in sets.row_output(set)
// and, for cross-entropy, each row's loss in sets.row_output(set) and the gradient of the mean loss in
// sets.output_data(set). Returns false with a message on the first mismatch.
bool matches_reference(const operation_traits& op, const shape& s, const buffer_sets& sets, std::size_t set,
                       std::string* message, const softxent::softmax_options* transform = nullptr);

// The options of a transform for whole matrices cut to row r alone: its mask row, its head's slope and
// sink, its valid_cols.
softxent::softmax_options row_transform(const softxent::softmax_options& whole, std::size_t r) noexcept;

// The check of a library's operation on a shape runs once per process: the first benchmark of the key
// runs check() (which returns "" when the result matches, else the mismatch) and keeps its verdict for
// the later repetitions and regimes. False, with the benchmark skipped with the mismatch, where it failed.
bool passes_check(benchmark::State& state, const std::string& key, const std::function<std::string()>& check);

// For a foreign library: the first time, runs check_run(0) (the timed call, or one that leaves per-row
// losses where the check looks for them) and checks its result against the reference; then, when it
// matched, makes one untimed run(0) (as softxent's benchmarks make their first call: the library's own
// scratch memory is then allocated and touched) and times run over the buffer sets; else skips the
// benchmark with the library's name and the mismatch.
template <class CheckRun, class Run>
void check_and_time(benchmark::State& state, const char* library, const operation_traits& op, const shape& s,
                    const buffer_sets& sets, CheckRun&& check_run, Run&& run,
                    const softxent::softmax_options* transform = nullptr) {
  const bool passed = passes_check(state, std::string(library) + "/" + op.name + "/" + s.name(), [&] {
    check_run(std::size_t{0});
    std::string message;
    if (!matches_reference(op, s, sets, 0, &message, transform)) message = std::string(library) + " " + message;
    return message;
  });
  if (!passed) return;
  run(std::size_t{0});
  time_rotating(state, op, s, sets, run);
}
template <class Run>
void check_and_time(benchmark::State& state, const char* library, const operation_traits& op, const shape& s,
                    const buffer_sets& sets, Run&& run) {
  check_and_time(state, library, op, s, sets, run, run);
}

// The instruction set clones that let a plain loop use the CPU's best vectors (roof, glue passes),
// chosen by feature level: "arch=<cpu name>" clones are chosen by CPU model and miss newer CPUs.
#if defined(__x86_64__) && defined(__GNUC__)
#define SOFTXENT_BENCH_BEST_ISA __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SOFTXENT_BENCH_BEST_ISA
#endif

// One registration function per file, called by main.
void register_logsumexp_benchmarks();
void register_softmax_benchmarks();
void register_log_softmax_benchmarks();
void register_softmax_backward_benchmarks();
void register_log_softmax_backward_benchmarks();
void register_cross_entropy_benchmarks();
void register_cross_entropy_soft_benchmarks();
void register_sampling_benchmarks();  // bench_sampling.cpp: top-k and sampling against logsumexp
void register_transform_benchmarks(); // bench_transform.cpp: the logit transform against plain softmax
void register_roof_benchmarks();     // roof.cpp
void register_onednn_benchmarks();   // bench_onednn.cpp, only when built with oneDNN
void register_xnnpack_benchmarks();  // bench_xnnpack.cpp, only when built with XNNPACK

// The options a benchmark binary takes (see bench_options.cpp): parses argv into config(), leaving
// Google Benchmark's options in argv, and prints the usage text on --help.
void parse_options(int& argc, char** argv);
// Runs what register_all registered, with the run's context: the main of each benchmark binary.
int run_benchmarks(int argc, char** argv, void (*register_all)());

}  // namespace softxent_bench

#endif  // SOFTXENT_BENCH_SUPPORT_HPP
