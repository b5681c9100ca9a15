// The reliability tests' main: doctest, plus a handler that names the case a crash happened in
// (a guard page hit is a SIGSEGV, an instruction the CPU lacks a SIGILL).
#define DOCTEST_CONFIG_IMPLEMENT
#define DOCTEST_CONFIG_NO_POSIX_SIGNALS
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

#include "support.hpp"

namespace {

struct sigaction previous_actions[NSIG];

void report_crash(int signal_number) {
  const char* what = signal_number == SIGSEGV ? "SIGSEGV" : signal_number == SIGBUS ? "SIGBUS"
                     : signal_number == SIGILL ? "SIGILL" : "signal";
  const char* context = softxent_reliability::crash_context();
  // Only async-signal-safe calls here.
  ssize_t ignored = write(STDERR_FILENO, "\nsoftxent reliability: ", 23);
  ignored = write(STDERR_FILENO, what, std::strlen(what));
  ignored = write(STDERR_FILENO, " during: ", 9);
  ignored = write(STDERR_FILENO, context, std::strlen(context));
  ignored = write(STDERR_FILENO, "\n", 1);
  (void)ignored;
  // Back to the previous handler (the default, or a sanitizer's): the faulting instruction runs
  // again on return and faults into it.
  sigaction(signal_number, &previous_actions[signal_number], nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  for (int s : {SIGSEGV, SIGBUS, SIGILL}) {
    struct sigaction action;
    std::memset(&action, 0, sizeof action);
    action.sa_handler = report_crash;
    sigaction(s, &action, &previous_actions[s]);
  }
  doctest::Context context(argc, argv);
  return context.run();
}
