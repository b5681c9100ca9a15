// Running a call's units of work on threads. Units are chosen from the shape alone by the caller, so
// the results never depend on how many threads run them or how a host pool groups them.
#ifndef SOFTXENT_SRC_PARALLEL_HPP
#define SOFTXENT_SRC_PARALLEL_HPP

#include <cstddef>

#include "softxent/softxent.hpp"

namespace softxent::detail {

class executor {
 public:
  // single_thread: run everything on the calling thread (the reference does).
  executor(const exec_options& exec, bool single_thread) noexcept
      : threads_(single_thread ? 1 : exec.threads), parallel_for_(exec.parallel_for), pool_(exec.pool) {}

  // Runs body(first, end) over disjoint ranges covering [0, units) and returns when all are done:
  // on the calling thread when units <= 1 or one thread is asked for; else through the host pool
  // (at most once per call: later runs of the same call stay on the calling thread) or OpenMP.
  template <class Body>
  void run(std::size_t units, Body& body) noexcept {
    run_task(units, [](void* context, std::size_t first, std::size_t end) {
      (*static_cast<Body*>(context))(first, end);
    }, &body);
  }

  // True when a later run() of this call could still use more than one thread.
  bool can_run_in_parallel() const noexcept;

 private:
  void run_task(std::size_t units, task body, void* context) noexcept;

  int threads_;
  void (*parallel_for_)(void*, std::size_t, task, void*);
  void* pool_;
  bool pool_used_ = false;
};

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_PARALLEL_HPP
