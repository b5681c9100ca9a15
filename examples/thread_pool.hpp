// A small persistent thread pool, like an inference engine's, that softxent runs on through
// exec_options::parallel_for (the examples use it instead of OpenMP).
#ifndef SOFTXENT_EXAMPLES_THREAD_POOL_HPP
#define SOFTXENT_EXAMPLES_THREAD_POOL_HPP

#include <softxent/softxent.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace examples {

// A small persistent pool, like an engine's: workers sleep until a job arrives, then every thread
// (the caller too) takes one unit at a time from a shared counter until none is left. Units thus go
// to whichever thread is free, in an order that changes from run to run.
class thread_pool {
 public:
  explicit thread_pool(std::size_t threads) {
    for (std::size_t i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  ~thread_pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    job_ready_.notify_all();
    for (std::thread& worker : workers_) worker.join();
  }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  std::size_t threads() const { return workers_.size() + 1; }
  std::size_t jobs() const { return jobs_; }
  std::size_t units() const { return units_run_; }

  // The function softxent calls: softxent::exec_options::parallel_for with pool = this.
  static void parallel_for(void* pool, std::size_t units, softxent::task body, void* context) {
    static_cast<thread_pool*>(pool)->run(units, body, context);
  }

 private:
  void run(std::size_t units, softxent::task body, void* context) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      body_ = body;
      context_ = context;
      unit_count_ = units;
      next_unit_.store(0);
      busy_workers_ = workers_.size();
      ++generation_;
      ++jobs_;
      units_run_ += units;
    }
    job_ready_.notify_all();
    take_units();
    std::unique_lock<std::mutex> lock(mutex_);
    job_done_.wait(lock, [this] { return busy_workers_ == 0; });
  }

  void take_units() {
    for (std::size_t unit = next_unit_.fetch_add(1); unit < unit_count_; unit = next_unit_.fetch_add(1)) {
      body_(context_, unit, unit + 1);
    }
  }

  void work() {
    std::size_t seen_generation = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        job_ready_.wait(lock, [&] { return stopping_ || generation_ != seen_generation; });
        if (stopping_) return;
        seen_generation = generation_;
      }
      take_units();
      std::lock_guard<std::mutex> lock(mutex_);
      if (--busy_workers_ == 0) job_done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable job_ready_;
  std::condition_variable job_done_;
  bool stopping_ = false;
  std::size_t generation_ = 0;
  std::size_t busy_workers_ = 0;
  softxent::task body_ = nullptr;
  void* context_ = nullptr;
  std::size_t unit_count_ = 0;
  std::atomic<std::size_t> next_unit_{0};
  std::size_t jobs_ = 0;
  std::size_t units_run_ = 0;
};

}  // namespace examples

#endif  // SOFTXENT_EXAMPLES_THREAD_POOL_HPP
