// libFuzzer entry point over softxent's C API: every input is one case of c_api_checker.hpp, and any
// broken promise aborts with the case and what went wrong.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "c_api_checker.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string problems = softxent_fuzz::check_case(data, size);
  if (!problems.empty()) {
    std::fputs(problems.c_str(), stderr);
    std::abort();
  }
  return 0;
}
