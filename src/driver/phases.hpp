// A call made of phases of independent tasks, where a phase may start only when the one before has
// finished, run through ONE executor run (one parallel_for of a host pool) with no barrier that a
// pool could deadlock on.
//
// Tasks are numbered across phases in order and claimed from one counter. A worker that claims a
// task of phase p waits until every task numbered below the phase's first has finished. Those were
// all claimed before, by workers that are running them or waiting on still earlier ones; the lowest
// unfinished task never waits, so the call always progresses, whether the pool runs its units on many
// threads at once or one after another on one thread (then the first unit runs every task).
// Which worker runs a task never matters: tasks, phases and what each writes follow from the shape.
#ifndef SOFTXENT_SRC_DRIVER_PHASES_HPP
#define SOFTXENT_SRC_DRIVER_PHASES_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

#include "parallel.hpp"

namespace softxent::detail {

// tasks_in(phase) -> the number of tasks of a phase (may be 0), for phase in [0, phases);
// run(phase, task) runs one. workers: how many units the executor is given (any number >= 1).
template <class TasksIn, class Run>
void run_phases(executor& ex, std::size_t phases, std::size_t workers, const TasksIn& tasks_in,
                const Run& run) noexcept {
  std::atomic<std::uint64_t> next_task{0};
  std::atomic<std::uint64_t> finished{0};
  auto worker = [&](std::size_t, std::size_t) {
    std::size_t phase = 0;
    std::uint64_t phase_first = 0, phase_end = tasks_in(0);
    for (;;) {
      const std::uint64_t task = next_task.fetch_add(1, std::memory_order_relaxed);
      while (task >= phase_end) {
        if (++phase == phases) return;
        phase_first = phase_end;
        phase_end += tasks_in(phase);
      }
      // Every task of the earlier phases is finished once `finished` reaches this phase's first:
      // no task of this phase or later finishes before then.
      for (unsigned spins = 0; finished.load(std::memory_order_acquire) < phase_first; ++spins) {
        if (spins > 64) std::this_thread::yield();
      }
      run(phase, static_cast<std::size_t>(task - phase_first));
      finished.fetch_add(1, std::memory_order_release);
    }
  };
  ex.run(workers == 0 ? 1 : workers, worker);
}

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_DRIVER_PHASES_HPP
