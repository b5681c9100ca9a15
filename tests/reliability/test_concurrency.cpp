// Concurrent callers: many host threads calling every operation at once, each call on OpenMP threads
// or on a host thread pool (one shared by all callers, or pools that group units oddly), must give
// the same bits as the same calls made one after another on one thread. Run under ThreadSanitizer in
// CI (preset tsan), where a data race in the library is a failure of its own.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

namespace softxent_reliability {
namespace {

// A small host thread pool: the caller of parallel_for works on its own call too, workers help, and
// several callers may share the pool at once.
class thread_pool {
 public:
  explicit thread_pool(int workers) {
    for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { work(); });
  }
  ~thread_pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  static void parallel_for(void* pool, std::size_t units, softxent_task task, void* context) {
    static_cast<thread_pool*>(pool)->run(units, task, context);
  }

 private:
  struct job {
    std::size_t units;
    softxent_task task;
    void* context;
    std::atomic<std::size_t> next{0};
    int helpers = 0;  // workers inside run_units, guarded by mutex_
  };

  static void run_units(job& j) {
    for (;;) {
      const std::size_t unit = j.next.fetch_add(1);
      if (unit >= j.units) return;
      j.task(j.context, unit, unit + 1);
    }
  }

  void run(std::size_t units, softxent_task task, void* context) {
    job j{units, task, context};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(&j);
    }
    wake_.notify_all();
    run_units(j);
    std::unique_lock<std::mutex> lock(mutex_);
    for (auto it = jobs_.begin(); it != jobs_.end(); ++it) {
      if (*it == &j) {
        jobs_.erase(it);
        break;
      }
    }
    helpers_done_.wait(lock, [&] { return j.helpers == 0; });
  }

  void work() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      job* picked = nullptr;
      wake_.wait(lock, [&] {
        for (job* j : jobs_)
          if (j->next.load() < j->units) picked = j;
        return stopping_ || picked != nullptr;
      });
      if (stopping_) return;
      ++picked->helpers;
      lock.unlock();
      run_units(*picked);
      lock.lock();
      if (--picked->helpers == 0) helpers_done_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_, helpers_done_;
  std::deque<job*> jobs_;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
};

// A pool that runs on the calling thread, in random groups and a random order.
struct grouping_pool {
  std::uint64_t seed;
  static void parallel_for(void* pool, std::size_t units, softxent_task task, void* context) {
    std::mt19937_64 bits(static_cast<grouping_pool*>(pool)->seed++);
    std::vector<std::pair<std::size_t, std::size_t>> ranges;
    for (std::size_t first = 0; first < units;) {
      const std::size_t end = std::min(units, first + 1 + bits() % 3);
      ranges.emplace_back(first, end);
      first = end;
    }
    std::shuffle(ranges.begin(), ranges.end(), bits);
    for (const auto& range : ranges) task(context, range.first, range.second);
  }
};

enum operation {
  op_logsumexp,
  op_softmax,
  op_softmax_in_place,
  op_log_softmax,
  op_softmax_backward,
  op_log_softmax_backward,
  op_cross_entropy_grad,
  op_cross_entropy_grad_in_place,
  op_cross_entropy_loss,
  op_cross_entropy_soft_grad,
  op_cross_entropy_soft_loss,
  op_count
};

struct job {
  int op;
  std::size_t rows, cols;
  std::vector<float> first, second;
  std::vector<std::int64_t> targets;
  std::vector<float> weights;
  softxent_cross_entropy_options options;
  std::vector<float> expected_out, expected_loss;
};

softxent_status run_job(const job& j, const softxent_exec* exec, std::vector<float>& out, std::vector<float>& loss) {
  const std::size_t rows = j.rows, cols = j.cols;
  out.assign(rows * cols, 0.0f);
  loss.assign(rows, 0.0f);
  switch (j.op) {
    case op_logsumexp: return softxent_logsumexp_f32(rows, cols, j.first.data(), cols, loss.data(), exec);
    case op_softmax: return softxent_softmax_f32(rows, cols, j.first.data(), cols, out.data(), cols, exec);
    case op_softmax_in_place:
      out = j.first;
      return softxent_softmax_f32(rows, cols, out.data(), cols, out.data(), cols, exec);
    case op_log_softmax: return softxent_log_softmax_f32(rows, cols, j.first.data(), cols, out.data(), cols, exec);
    case op_softmax_backward:
      return softxent_softmax_backward_f32(rows, cols, j.first.data(), cols, j.second.data(), cols, out.data(), cols, exec);
    case op_log_softmax_backward:
      return softxent_log_softmax_backward_f32(rows, cols, j.first.data(), cols, j.second.data(), cols, out.data(), cols,
                                               exec);
    case op_cross_entropy_grad:
      return softxent_cross_entropy_f32(rows, cols, j.first.data(), cols, j.targets.data(), &j.options, loss.data(),
                                        out.data(), cols, exec);
    case op_cross_entropy_grad_in_place:
      out = j.first;
      return softxent_cross_entropy_f32(rows, cols, out.data(), cols, j.targets.data(), &j.options, loss.data(),
                                        out.data(), cols, exec);
    case op_cross_entropy_loss:
      return softxent_cross_entropy_f32(rows, cols, j.first.data(), cols, j.targets.data(), &j.options, loss.data(),
                                        nullptr, 0, exec);
    case op_cross_entropy_soft_grad:
      return softxent_cross_entropy_soft_f32(rows, cols, j.first.data(), cols, j.second.data(), cols, &j.options,
                                             loss.data(), out.data(), cols, exec);
    default:
      return softxent_cross_entropy_soft_f32(rows, cols, j.first.data(), cols, j.second.data(), cols, &j.options,
                                             loss.data(), nullptr, 0, exec);
  }
}

// Every operation on a few shapes: short rows, rows of several chunks (4096), many rows.
std::vector<job> make_jobs() {
  std::vector<job> jobs;
  const bool quick = quick_mode();
  struct shape { std::size_t rows, cols; };
  std::vector<shape> shapes = {{37, 33}, {9, 1000}, {2, 9000}};
  if (!quick) shapes.push_back({1, 40000});
  std::uint64_t seed = 100;
  for (const shape& s : shapes) {
    for (int op = 0; op < op_count; ++op) {
      job j;
      j.op = op;
      j.rows = s.rows;
      j.cols = s.cols;
      j.first.resize(s.rows * s.cols);
      j.second.resize(s.rows * s.cols);
      if (op == op_softmax_backward || op == op_log_softmax_backward) {
        fill_softmax_output(j.first.data(), s.rows, s.cols, s.cols, seed, op == op_log_softmax_backward);
        fill_gradient(j.second.data(), s.rows, s.cols, s.cols, seed + 1);
      } else {
        fill_logits(j.first.data(), s.rows, s.cols, s.cols, seed, true);
        fill_probabilities(j.second.data(), s.rows, s.cols, s.cols, seed + 1);
      }
      j.weights.resize(s.cols);
      for (std::size_t c = 0; c < s.cols; ++c) j.weights[c] = 0.5f + static_cast<float>(c % 5) * 0.25f;
      j.targets.resize(s.rows);
      for (std::size_t r = 0; r < s.rows; ++r) j.targets[r] = r % 4 == 3 ? -100 : 0;  // class 0 is never masked
      softxent_cross_entropy_options_init(&j.options);
      j.options.reduction = static_cast<softxent_reduction>(seed % 3);
      j.options.label_smoothing = seed % 2 ? 0.1f : 0.0f;
      j.options.z_loss = seed % 5 == 0 ? 1e-4f : 0.0f;
      if (seed % 3 == 1) j.options.class_weights = j.weights.data();
      ++seed;
      jobs.push_back(std::move(j));
    }
  }
  // Fix the weights pointers after the moves.
  for (job& j : jobs)
    if (j.options.class_weights != nullptr) j.options.class_weights = j.weights.data();
  // The serial results: one call after another, on this thread alone.
  softxent_exec serial{};
  serial.threads = 1;
  for (job& j : jobs) {
    const softxent_status s = run_job(j, &serial, j.expected_out, j.expected_loss);
    REQUIRE(s == SOFTXENT_OK);
  }
  return jobs;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// How the host threads of a test run their calls.
enum class mode { openmp, shared_pool, grouping_pools, mixed };

void hammer(mode how, int host_threads, int iterations) {
  const std::vector<job> jobs = make_jobs();
  thread_pool pool(2);
  std::atomic<int> mismatches{0};
  std::mutex message_mutex;
  std::string first_message;
  std::atomic<int> ready{0};

  auto body = [&](int id) {
    grouping_pool grouping{static_cast<std::uint64_t>(id) * 7919};
    std::vector<float> out, loss;
    ready.fetch_add(1);
    while (ready.load() < host_threads) std::this_thread::yield();  // start together
    for (int it = 0; it < iterations; ++it) {
      for (std::size_t k = 0; k < jobs.size(); ++k) {
        const job& j = jobs[(k + static_cast<std::size_t>(id) * 5) % jobs.size()];
        softxent_exec exec{};
        mode m = how == mode::mixed ? static_cast<mode>((k + static_cast<std::size_t>(it + id)) % 3) : how;
        switch (m) {
          case mode::openmp: exec.threads = static_cast<int>((k + static_cast<std::size_t>(id)) % 3); break;  // 0, 1, 2
          case mode::shared_pool:
            exec.parallel_for = thread_pool::parallel_for;
            exec.pool = &pool;
            break;
          default:
            exec.parallel_for = grouping_pool::parallel_for;
            exec.pool = &grouping;
            break;
        }
        const softxent_status s = run_job(j, &exec, out, loss);
        const bool same = s == SOFTXENT_OK && same_bits(out, j.expected_out) && same_bits(loss, j.expected_loss);
        if (!same && mismatches.fetch_add(1) == 0) {
          std::ostringstream message;
          message << "host thread " << id << " iteration " << it << ": op " << j.op << " rows " << j.rows << " cols "
                  << j.cols << " status " << softxent_status_string(s) << ": bits differ from the serial call";
          std::lock_guard<std::mutex> lock(message_mutex);
          first_message = message.str();
        }
      }
    }
  };
  std::vector<std::thread> threads;
  for (int id = 0; id < host_threads; ++id) threads.emplace_back(body, id);
  for (std::thread& t : threads) t.join();
  INFO(first_message);
  CHECK(mismatches.load() == 0);
}

int iterations() { return quick_mode() ? 1 : 3; }

}  // namespace

TEST_SUITE("threads") {
  TEST_CASE("concurrency: host threads on OpenMP give the serial bits") { hammer(mode::openmp, 6, iterations()); }
  TEST_CASE("concurrency: host threads sharing one host pool give the serial bits") {
    hammer(mode::shared_pool, 6, iterations());
  }
  TEST_CASE("concurrency: host threads with pools grouping units oddly give the serial bits") {
    hammer(mode::grouping_pools, 4, iterations());
  }
  TEST_CASE("concurrency: OpenMP and both kinds of host pool mixed give the serial bits") {
    hammer(mode::mixed, 8, iterations());
  }
  // Each doctest case runs in its own process under ctest, so these are the process's first calls:
  // the one-time CPU detection races here.
  TEST_CASE("concurrency: first calls of a process race on ISA detection") {
    constexpr int callers = 8;
    std::atomic<int> ready{0};
    std::vector<std::string> chosen(callers);
    std::vector<float> lse(callers * 4, 0.0f);
    const float x[4 * 5] = {1, 2, 3, 4, 5, -1, 0, 1, 0, -1, 9, 9, 9, 9, 9, 0.5f, 0.25f, 0, -0.25f, -0.5f};
    std::vector<std::thread> threads;
    for (int id = 0; id < callers; ++id) {
      threads.emplace_back([&, id] {
        ready.fetch_add(1);
        while (ready.load() < callers) std::this_thread::yield();
        const char* isa = softxent_isa(nullptr);
        chosen[static_cast<std::size_t>(id)] = isa ? isa : "(null)";
        softxent_logsumexp_f32(4, 5, x, 5, &lse[static_cast<std::size_t>(id) * 4], nullptr);
      });
    }
    for (std::thread& t : threads) t.join();
    for (int id = 1; id < callers; ++id) {
      CHECK(chosen[static_cast<std::size_t>(id)] == chosen[0]);
      CHECK(std::memcmp(&lse[static_cast<std::size_t>(id) * 4], &lse[0], 4 * sizeof(float)) == 0);
    }
  }
}

}  // namespace softxent_reliability
