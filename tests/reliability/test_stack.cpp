// Stack use (README.md, "Execution"): every public C call, on every instruction set, for short and
// long rows, on one thread, with OpenMP and with a host pool, runs on a thread that has the stack
// README.md states for the calling thread (plus a small margin) and no more; the pool's workers have
// the stack it states for a worker thread. How deep each call went is measured and reported too.
//
// The stacks are the test's own mappings (pthread_attr_setstack), painted with a pattern. Right
// before a call, everything deeper than the budget below the call site is made PROT_NONE, so a call
// that goes deeper faults; right after it, the deepest word that no longer holds the pattern says
// how deep the call went. pthread_attr_setstacksize cannot give a call an exact budget: glibc carves
// the thread's TLS and descriptor (and the guard page) out of or next to that size, and on AArch64
// it refuses anything under 128 KiB.
#include <doctest/doctest.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support.hpp"

#ifndef SOFTXENT_STACK_BOUNDS_CHECKED
#define SOFTXENT_STACK_BOUNDS_CHECKED 0
#endif

namespace softxent_reliability {
namespace {

// The bounds README.md states, in bytes (measured with g++ 12 -O3 on x86-64: 107.7 KiB on the calling
// thread and 33.3 KiB on a worker, both cross-entropy with bf16 logits and gradient; float calls 85.9
// KiB and 9.7 KiB; top_k 55.4 KiB and sample 82.9 KiB on either thread, their row state and candidate
// sets), with room for another compiler's or target's frames.
constexpr std::size_t calling_thread_bound = 120 * 1024;
constexpr std::size_t worker_thread_bound = 40 * 1024;
constexpr std::size_t selection_worker_bound = 96 * 1024;  // top_k and sample
// The fence goes this much below a bound (then down to a page boundary): the measuring frame's own.
constexpr std::size_t fence_margin = 256;
// The bounds are stated for optimised builds without sanitizers (CMake defines
// SOFTXENT_STACK_BOUNDS_CHECKED for those). Elsewhere frames are much larger (AddressSanitizer's
// redzones, -O0): the calls get 16 times the room, and their depths are only reported.
constexpr std::size_t room_factor = SOFTXENT_STACK_BOUNDS_CHECKED ? 1 : 16;

constexpr std::uint64_t paint = 0x57ac4b0a57ac4b0aull;

std::size_t page_size() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

// The stack pointer itself: the address of a local would not do, as AddressSanitizer's
// detect_stack_use_after_return moves such locals to a heap-allocated frame.
__attribute__((always_inline)) inline char* stack_pointer() {
  char* pointer;
#if defined(__x86_64__)
  asm volatile("mov %%rsp, %0" : "=r"(pointer));
#elif defined(__aarch64__)
  asm volatile("mov %0, sp" : "=r"(pointer));
#else
  pointer = static_cast<char*>(__builtin_frame_address(0));
#endif
  return pointer;
}

// One thread's stack, mapped, painted and fenced by the test.
class fenced_stack {
 public:
  explicit fenced_stack(std::size_t budget) : budget_(budget) {
    const std::size_t page = page_size();
    // Above the deepest fence: the thread's TLS, its descriptor and the frames that lead to the call
    // sites (large under AddressSanitizer); below it at least a page. At least the system's minimum
    // (128 KiB on AArch64).
    std::size_t bytes = budget + 256 * 1024;
    bytes = std::max<std::size_t>(bytes, static_cast<std::size_t>(sysconf(_SC_THREAD_STACK_MIN)));
    bytes_ = (bytes + page - 1) / page * page;
    void* mapping = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (mapping == MAP_FAILED) throw std::runtime_error("mmap failed");
    base_ = static_cast<char*>(mapping);
    fence_ = base_;
    paint_words(base_, base_ + bytes_);
  }
  ~fenced_stack() { munmap(base_, bytes_); }
  fenced_stack(const fenced_stack&) = delete;
  fenced_stack& operator=(const fenced_stack&) = delete;

  // Starts a thread on this stack running function(argument).
  void start(void* (*function)(void*), void* argument) {
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setstack(&attributes, base_, bytes_);
    const int failed = pthread_create(&thread_, &attributes, function, argument);
    pthread_attr_destroy(&attributes);
    if (failed != 0) throw std::runtime_error("pthread_create failed");
  }
  void join() { pthread_join(thread_, nullptr); }

  // Runs call() on this stack's thread (the caller) and returns how many bytes below this function's
  // stack pointer it wrote, with anything deeper than the budget inaccessible.
  template <class Call>
  __attribute__((noinline)) std::size_t measure(const Call& call) {
    const char* site = stack_pointer();
    arm(site);
    call();
    return depth(site);
  }

 private:
  static void paint_words(char* first, char* end) {
    for (auto* word = reinterpret_cast<std::uint64_t*>(first); word + 1 <= reinterpret_cast<std::uint64_t*>(end); ++word)
      *word = paint;
  }

  // Moves the fence to budget below site (rounded down to a page) and repaints the stack from the
  // fence up to below this frame, which lies below site: a loop that calls nothing, so nothing below
  // its stack pointer (past x86-64's 128-byte red zone) is live.
  __attribute__((noinline)) void arm(const char* site) {
    const std::uintptr_t page = page_size();
    const std::uintptr_t fence = (reinterpret_cast<std::uintptr_t>(site) - budget_) / page * page;
    if (fence <= reinterpret_cast<std::uintptr_t>(base_) + page) throw std::logic_error("fenced_stack: no room for the fence");
    char* new_fence = reinterpret_cast<char*>(fence);
    if (new_fence != fence_) {
      mprotect(base_, static_cast<std::size_t>(new_fence - base_), PROT_NONE);
      if (new_fence < fence_) mprotect(new_fence, static_cast<std::size_t>(fence_ - new_fence), PROT_READ | PROT_WRITE);
      fence_ = new_fence;
    }
    paint_words(fence_, reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(stack_pointer()) - 256));
  }

  // Bytes from site down to the deepest word written since arm().
  std::size_t depth(const char* site) const {
    for (auto* word = reinterpret_cast<const std::uint64_t*>(fence_); reinterpret_cast<const char*>(word) < site; ++word)
      if (*word != paint) return static_cast<std::size_t>(site - reinterpret_cast<const char*>(word));
    return 0;
  }

  std::size_t budget_;
  std::size_t bytes_ = 0;
  char* base_ = nullptr;
  char* fence_ = nullptr;  // [base_, fence_) is PROT_NONE
  pthread_t thread_{};
};

// A host pool whose workers run on fenced stacks: parallel_for gives each worker a contiguous share of
// the units and waits for all of them. The calling thread only waits, so the depth measured on it is
// the library's plus this wait.
class fenced_pool {
 public:
  fenced_pool(std::size_t workers, std::size_t budget) {
    for (std::size_t i = 0; i < workers; ++i) workers_.emplace_back(new worker{fenced_stack(budget), this, i, 0});
    for (auto& w : workers_) w->stack.start(work, w.get());
  }
  ~fenced_pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w->stack.join();
  }
  fenced_pool(const fenced_pool&) = delete;
  fenced_pool& operator=(const fenced_pool&) = delete;

  static void parallel_for(void* pool, std::size_t units, softxent_task task, void* context) {
    auto* self = static_cast<fenced_pool*>(pool);
    std::unique_lock<std::mutex> lock(self->mutex_);
    self->units_ = units;
    self->task_ = task;
    self->context_ = context;
    self->pending_ = self->workers_.size();
    ++self->generation_;
    self->wake_.notify_all();
    self->done_.wait(lock, [&] { return self->pending_ == 0; });
  }

  // The deepest any worker went since the last take_deepest().
  std::size_t take_deepest() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::size_t deepest = 0;
    for (auto& w : workers_) deepest = std::max(deepest, std::exchange(w->deepest, 0));
    return deepest;
  }

 private:
  struct worker {
    fenced_stack stack;
    fenced_pool* pool;
    std::size_t index;
    std::size_t deepest;
  };

  static void* work(void* argument) {
    auto& w = *static_cast<worker*>(argument);
    fenced_pool& pool = *w.pool;
    std::uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(pool.mutex_);
    for (;;) {
      pool.wake_.wait(lock, [&] { return pool.stopping_ || pool.generation_ != seen; });
      if (pool.stopping_) return nullptr;
      seen = pool.generation_;
      const std::size_t count = pool.workers_.size();
      const std::size_t first = pool.units_ * w.index / count, end = pool.units_ * (w.index + 1) / count;
      const softxent_task task = pool.task_;
      void* const context = pool.context_;
      lock.unlock();
      std::size_t depth = 0;
      if (first < end) depth = w.stack.measure([&] { task(context, first, end); });
      lock.lock();
      w.deepest = std::max(w.deepest, depth);
      if (--pool.pending_ == 0) pool.done_.notify_all();
    }
  }

  std::vector<std::unique_ptr<worker>> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::size_t units_ = 0;
  softxent_task task_ = nullptr;
  void* context_ = nullptr;
  std::size_t pending_ = 0;
  std::uint64_t generation_ = 0;
  bool stopping_ = false;
};

// The shapes: short rows (transposed tiles), rows of one chunk, long rows cut into chunks (many rows:
// whole rows per unit; few rows: chunks spread over the threads), and a row of more than 256 chunks'
// worth, where the chunks grow.
struct shape {
  const char* name;
  std::size_t rows;
  std::size_t cols;
};
const shape shapes[] = {
    {"2048 x 13", 2048, 13},
    {"64 x 1000", 64, 1000},
    {"8 x 10000", 8, 10000},
    {"2 x 12293", 2, 3 * 4096 + 5},
    {"1 x 1048677", 1, 256 * 4096 + 101},
};

// Inputs and outputs of every call for one shape, made on the main thread.
struct operands {
  std::size_t rows, cols;
  std::vector<float> logits, probabilities, softmax_output, log_softmax_output, upstream, output, lse, loss, weights;
  std::vector<std::int64_t> targets, indices, tokens;
  std::vector<std::uint64_t> seeds;
  std::vector<softxent_shard_stats> stats, second_stats;

  explicit operands(const shape& s) : rows(s.rows), cols(s.cols) {
    const std::size_t n = rows * cols;
    logits.resize(n);
    probabilities.resize(n);
    softmax_output.resize(n);
    log_softmax_output.resize(n);
    upstream.resize(n);
    output.resize(n);
    lse.resize(rows);
    loss.resize(rows);
    weights.assign(cols, 0.5f);
    fill_logits(logits.data(), rows, cols, cols, 11, /*masked=*/true);
    fill_probabilities(probabilities.data(), rows, cols, cols, 12);
    fill_softmax_output(softmax_output.data(), rows, cols, cols, 13, false);
    fill_softmax_output(log_softmax_output.data(), rows, cols, cols, 13, true);
    fill_gradient(upstream.data(), rows, cols, cols, 14);
    targets.resize(rows);
    for (std::size_t r = 0; r < rows; ++r) targets[r] = r % 5 == 4 ? -100 : 0;  // class 0 is never masked
    indices.resize(rows * top_k_of(cols));
    tokens.resize(rows);
    seeds.resize(rows);
    for (std::size_t r = 0; r < rows; ++r) seeds[r] = 1000 + r;
    stats.resize(rows);
    second_stats.resize(rows);
  }
  // The largest k a call allows: its candidate sets are the largest.
  static std::size_t top_k_of(std::size_t cols) { return std::min<std::size_t>(cols, SOFTXENT_MAX_TOP_K); }
};

// One public call on the operands, returning its status.
struct call {
  const char* name;
  std::function<softxent_status(operands&, const softxent_exec*)> run;
  std::size_t worker_bound = worker_thread_bound;
};

softxent_cross_entropy_options options_with(softxent_reduction reduction, const float* weights) {
  softxent_cross_entropy_options options;
  softxent_cross_entropy_options_init(&options);
  options.reduction = reduction;
  if (weights != nullptr) {
    options.class_weights = weights;
    options.label_smoothing = 0.1f;
    options.z_loss = 1e-4f;
  }
  return options;
}

std::vector<call> public_calls() {
  using o = operands;
  using e = const softxent_exec*;
  const auto integer = [](softxent_reduction reduction, bool grad, bool options_on, bool in_place) {
    return [=](o& p, e exec) {
      const softxent_cross_entropy_options options = options_with(reduction, options_on ? p.weights.data() : nullptr);
      float* logits = p.logits.data();
      if (in_place) {  // the gradient overwrites a copy of the logits
        std::copy(p.logits.begin(), p.logits.end(), p.output.begin());
        logits = p.output.data();
      }
      return softxent_cross_entropy_f32(p.rows, p.cols, logits, p.cols, p.targets.data(), &options, p.loss.data(),
                                        grad ? p.output.data() : nullptr, p.cols, exec);
    };
  };
  const auto soft = [](softxent_reduction reduction, bool grad, bool options_on) {
    return [=](o& p, e exec) {
      const softxent_cross_entropy_options options = options_with(reduction, options_on ? p.weights.data() : nullptr);
      return softxent_cross_entropy_soft_f32(p.rows, p.cols, p.logits.data(), p.cols, p.probabilities.data(), p.cols,
                                             &options, p.loss.data(), grad ? p.output.data() : nullptr, p.cols, exec);
    };
  };
  return {
      {"logsumexp", [](o& p, e exec) { return softxent_logsumexp_f32(p.rows, p.cols, p.logits.data(), p.cols, p.lse.data(), exec); }},
      {"softmax", [](o& p, e exec) { return softxent_softmax_f32(p.rows, p.cols, p.logits.data(), p.cols, p.output.data(), p.cols, exec); }},
      {"log_softmax", [](o& p, e exec) { return softxent_log_softmax_f32(p.rows, p.cols, p.logits.data(), p.cols, p.output.data(), p.cols, exec); }},
      {"softmax_backward",
       [](o& p, e exec) {
         return softxent_softmax_backward_f32(p.rows, p.cols, p.softmax_output.data(), p.cols, p.upstream.data(), p.cols,
                                              p.output.data(), p.cols, exec);
       }},
      {"log_softmax_backward",
       [](o& p, e exec) {
         return softxent_log_softmax_backward_f32(p.rows, p.cols, p.log_softmax_output.data(), p.cols, p.upstream.data(),
                                                  p.cols, p.output.data(), p.cols, exec);
       }},
      {"cross_entropy MEAN loss", integer(SOFTXENT_REDUCTION_MEAN, false, false, false)},
      {"cross_entropy SUM loss", integer(SOFTXENT_REDUCTION_SUM, false, false, false)},
      {"cross_entropy MEAN grad", integer(SOFTXENT_REDUCTION_MEAN, true, false, false)},
      {"cross_entropy SUM grad, weights, smoothing, z-loss", integer(SOFTXENT_REDUCTION_SUM, true, true, false)},
      {"cross_entropy NONE loss", integer(SOFTXENT_REDUCTION_NONE, false, false, false)},
      {"cross_entropy NONE grad in place, weights, smoothing", integer(SOFTXENT_REDUCTION_NONE, true, true, true)},
      {"cross_entropy_soft MEAN loss", soft(SOFTXENT_REDUCTION_MEAN, false, false)},
      {"cross_entropy_soft MEAN grad, weights, smoothing", soft(SOFTXENT_REDUCTION_MEAN, true, true)},
      {"cross_entropy_soft NONE grad", soft(SOFTXENT_REDUCTION_NONE, true, false)},
      // The staged path (other dtypes, a transform): the float buffers' bytes read as 16-bit values.
      {"softmax bf16 -> f16 with scale, softcap, sinks and valid lengths",
       [](o& p, e exec) {
         softxent_softmax_options options;
         softxent_softmax_options_init(&options);
         options.scale = 0.5f;
         options.softcap = 20.0f;
         const float sink = 1.0f;
         options.sinks = &sink;
         std::vector<std::int64_t> valid(p.rows, static_cast<std::int64_t>(p.cols));
         options.valid_cols = valid.data();
         return softxent_softmax(p.rows, p.cols, {p.logits.data(), SOFTXENT_BF16, p.cols},
                                 {p.output.data(), SOFTXENT_F16, p.cols}, &options, exec);
       }},
      {"log_softmax_backward f16",
       [](o& p, e exec) {
         return softxent_log_softmax_backward(p.rows, p.cols, {p.log_softmax_output.data(), SOFTXENT_F16, p.cols},
                                              {p.upstream.data(), SOFTXENT_F16, p.cols},
                                              {p.output.data(), SOFTXENT_F16, p.cols}, exec);
       }},
      {"cross_entropy bf16 grad, weights (short rows through the float rows kernel)",
       [](o& p, e exec) {
         softxent_cross_entropy_options options = options_with(SOFTXENT_REDUCTION_MEAN, p.weights.data());
         return softxent_cross_entropy(p.rows, p.cols, {p.logits.data(), SOFTXENT_BF16, p.cols}, p.targets.data(),
                                       &options, p.loss.data(), {p.output.data(), SOFTXENT_BF16, p.cols}, exec);
       }},
      {"cross_entropy_soft bf16 logits, float probabilities, bf16 grad",
       [](o& p, e exec) {
         softxent_cross_entropy_options options = options_with(SOFTXENT_REDUCTION_SUM, nullptr);
         return softxent_cross_entropy_soft(p.rows, p.cols, {p.logits.data(), SOFTXENT_BF16, p.cols},
                                            {p.probabilities.data(), SOFTXENT_F32, p.cols}, &options,
                                            p.loss.data(), {p.output.data(), SOFTXENT_BF16, p.cols}, exec);
       }},
      {"cross_entropy bf16 grad with softcap and smoothing",
       [](o& p, e exec) {
         softxent_cross_entropy_options options = options_with(SOFTXENT_REDUCTION_MEAN, p.weights.data());
         options.softcap = 30.0f;
         return softxent_cross_entropy(p.rows, p.cols, {p.logits.data(), SOFTXENT_BF16, p.cols}, p.targets.data(),
                                       &options, p.loss.data(), {p.output.data(), SOFTXENT_BF16, p.cols}, exec);
       }},
      {"top_k, k = min(cols, SOFTXENT_MAX_TOP_K), with log-probs and lse",
       [](o& p, e exec) {
         return softxent_top_k(p.rows, p.cols, {p.logits.data(), SOFTXENT_F32, p.cols}, nullptr, o::top_k_of(p.cols),
                               p.indices.data(), p.output.data(), p.lse.data(), exec);
       },
       selection_worker_bound},
      {"top_k bf16 with scale and valid lengths",
       [](o& p, e exec) {
         softxent_softmax_options options;
         softxent_softmax_options_init(&options);
         options.scale = 0.7f;
         std::vector<std::int64_t> valid(p.rows, static_cast<std::int64_t>(p.cols));
         options.valid_cols = valid.data();
         return softxent_top_k(p.rows, p.cols, {p.logits.data(), SOFTXENT_BF16, p.cols}, &options, o::top_k_of(p.cols),
                               p.indices.data(), p.output.data(), p.lse.data(), exec);
       },
       selection_worker_bound},
      {"sample, temperature 0.8, top_k SOFTXENT_MAX_TOP_K, top_p 0.9, min_p 0.01",
       [](o& p, e exec) {
         softxent_sampling_options options;
         softxent_sampling_options_init(&options);
         options.temperature = 0.8f;
         options.top_k = SOFTXENT_MAX_TOP_K;
         options.top_p = 0.9f;
         options.min_p = 0.01f;
         return softxent_sample(p.rows, p.cols, {p.logits.data(), SOFTXENT_F32, p.cols}, nullptr, &options,
                                p.seeds.data(), p.tokens.data(), p.lse.data(), exec);
       },
       selection_worker_bound},
      {"sample f16, top_p 0.95 alone",
       [](o& p, e exec) {
         softxent_sampling_options options;
         softxent_sampling_options_init(&options);
         options.top_p = 0.95f;
         return softxent_sample(p.rows, p.cols, {p.logits.data(), SOFTXENT_F16, p.cols}, nullptr, &options,
                                p.seeds.data(), p.tokens.data(), p.lse.data(), exec);
       },
       selection_worker_bound},
      {"cross_entropy_shard_stats and _finish, two shards, weights and smoothing",
       [](o& p, e exec) {
         const softxent_cross_entropy_options options = options_with(SOFTXENT_REDUCTION_MEAN, p.weights.data());
         const std::size_t first = p.cols / 2, second = p.cols - first;
         softxent_status status = softxent_cross_entropy_shard_stats_f32(
             p.rows, first, 0, p.cols, p.logits.data(), p.cols, p.targets.data(), &options, p.stats.data(), exec);
         if (status == SOFTXENT_OK)
           status = softxent_cross_entropy_shard_stats_f32(p.rows, second, first, p.cols, p.logits.data() + first,
                                                           p.cols, p.targets.data(), &options, p.second_stats.data(),
                                                           exec);
         softxent_shard_stats_merge(p.rows, p.second_stats.data(), p.stats.data());
         if (status == SOFTXENT_OK)
           status = softxent_cross_entropy_shard_finish_f32(p.rows, first, 0, p.cols, p.logits.data(), p.cols,
                                                            p.targets.data(), &options, p.stats.data(), p.loss.data(),
                                                            p.output.data(), p.cols, exec);
         return status;
       }},
  };
}

struct exec_mode {
  const char* name;
  int threads;
  bool pool;
};
const exec_mode modes[] = {{"one thread", 1, false}, {"OpenMP", 0, false}, {"host pool", 0, true}};

// The deepest call seen on one kind of thread, and which call it was.
struct deepest_call {
  std::size_t bytes = 0;
  std::string what;
  void add(std::size_t depth, const std::string& description) {
    if (depth <= bytes) return;
    bytes = depth;
    what = description;
  }
};

// What the calling thread does and finds; the main thread checks it after the join.
struct stack_run {
  fenced_stack* caller;
  fenced_pool* pool;
  const std::vector<std::unique_ptr<operands>>* inputs;
  deepest_call calling, worker;
  struct per_call_depths {
    std::string name;
    std::size_t calling, worker, worker_bound;
  };
  std::vector<per_call_depths> per_call;  // the deepest of each call over shapes, modes and ISAs
  std::vector<std::string> problems;
};

void record(stack_run& run, const call& c, std::size_t calling, std::size_t worker) {
  for (auto& entry : run.per_call) {
    if (entry.name != c.name) continue;
    entry.calling = std::max(entry.calling, calling);
    entry.worker = std::max(entry.worker, worker);
    return;
  }
  run.per_call.push_back({c.name, calling, worker, c.worker_bound});
}

void every_call(stack_run& run) {
  const std::vector<call> calls = public_calls();
  for (const char* isa : supported_isas()) {
    // The scalar tables take a row of 2^20 classes at an emulated CPU's pace; their arrays of chunk
    // statistics are the same whatever the row length, and the shorter long rows fill them too.
    // Under an emulator (quick mode) they take the shorter rows only: the driver's frames, the deepest,
    // are the same for every table, and the native run measures their long rows.
    const bool scalar = std::strcmp(isa, "reference") == 0 || std::strcmp(isa, "scalar") == 0;
    for (std::size_t s = 0; s < std::size(shapes); ++s) {
      if (scalar && shapes[s].cols > (quick_mode() ? 4096 : 256 * 4096)) continue;
      operands& p = *(*run.inputs)[s];
      for (const exec_mode& mode : modes) {
        softxent_exec exec{};
        exec.isa = isa;
        exec.threads = mode.threads;
        if (mode.pool) {
          exec.parallel_for = fenced_pool::parallel_for;
          exec.pool = run.pool;
        }
        for (const call& c : calls) {
          std::ostringstream description;
          description << c.name << ", " << shapes[s].name << ", " << mode.name << ", " << isa;
          set_crash_context("stack: " + description.str());
          softxent_status status = SOFTXENT_OK;
          const std::size_t depth = run.caller->measure([&] { status = c.run(p, &exec); });
          if (status != SOFTXENT_OK) run.problems.push_back(description.str() + ": " + softxent_status_string(status));
          const std::size_t worker_depth = run.pool->take_deepest();
          run.calling.add(depth, description.str());
          run.worker.add(worker_depth, description.str());
          record(run, c, depth, worker_depth);
        }
      }
    }
  }
  // The calls that compute nothing.
  const char* isa_name = nullptr;
  const std::size_t small = run.caller->measure([&] {
    softxent_cross_entropy_options options;
    softxent_cross_entropy_options_init(&options);
    isa_name = softxent_isa(nullptr);
    if (softxent_version() == nullptr || softxent_status_string(SOFTXENT_ERROR_OVERLAP) == nullptr) isa_name = nullptr;
  });
  if (isa_name == nullptr) run.problems.push_back("softxent_isa, softxent_version or softxent_status_string returned NULL");
  run.calling.add(small, "softxent_isa, softxent_version, softxent_status_string, softxent_cross_entropy_options_init");
  set_crash_context("(between cases)");
}

void* run_on_fenced_stack(void* argument) {
  auto& run = *static_cast<stack_run*>(argument);
  try {
    every_call(run);
  } catch (const std::exception& error) {
    run.problems.push_back(error.what());
  }
  return nullptr;
}

}  // namespace

TEST_SUITE("stack") {
  TEST_CASE("stack: every public call stays within the stack README.md states, on the calling thread and on pool workers") {
    std::vector<std::unique_ptr<operands>> inputs;
    for (const shape& s : shapes) inputs.emplace_back(new operands(s));
    fenced_stack caller((calling_thread_bound + fence_margin) * room_factor);
    // The workers' fence is at the larger bound; each call's own bound is checked on its measured depth.
    fenced_pool pool(2, (selection_worker_bound + fence_margin) * room_factor);
    stack_run run{&caller, &pool, &inputs, {}, {}, {}, {}};
    caller.start(run_on_fenced_stack, &run);
    caller.join();

    for (const std::string& problem : run.problems) FAIL_CHECK(problem);
    std::ostringstream table;
    table << "deepest stack use (bytes below the call site), calling thread: " << run.calling.bytes << " ("
          << run.calling.what << "); pool worker: " << run.worker.bytes << " (" << run.worker.what << ")";
    for (const auto& entry : run.per_call)
      table << "\n  " << entry.name << ": calling thread " << entry.calling << ", worker " << entry.worker;
    MESSAGE(table.str());
    if (SOFTXENT_STACK_BOUNDS_CHECKED) {
      CHECK(run.calling.bytes <= calling_thread_bound);
      for (const auto& entry : run.per_call) {
        CAPTURE(entry.name);
        CHECK(entry.worker <= entry.worker_bound);
      }
    } else {
      MESSAGE("not an optimised build without sanitizers: the depths are reported, not checked against README.md's bounds");
    }
  }
}

}  // namespace softxent_reliability
