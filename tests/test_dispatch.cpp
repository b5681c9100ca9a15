// The dispatcher: the best instruction set of the CPU by default (AVX-512 on this machine, NEON on
// AArch64), the SOFTXENT_ISA environment variable, exec.isa winning over it, and the statuses of bad
// names.
#include "test_support.hpp"

#include <cstdlib>

using namespace sxtest;

namespace {

// Sets (or unsets, for nullptr) SOFTXENT_ISA for the lifetime of the object, then restores it.
class scoped_isa_variable {
 public:
  explicit scoped_isa_variable(const char* value) {
    const char* old = std::getenv("SOFTXENT_ISA");
    had_old_ = old != nullptr;
    if (had_old_) old_ = old;
    if (value == nullptr)
      unsetenv("SOFTXENT_ISA");
    else
      setenv("SOFTXENT_ISA", value, 1);
  }
  ~scoped_isa_variable() {
    if (had_old_)
      setenv("SOFTXENT_ISA", old_.c_str(), 1);
    else
      unsetenv("SOFTXENT_ISA");
  }
  scoped_isa_variable(const scoped_isa_variable&) = delete;
  scoped_isa_variable& operator=(const scoped_isa_variable&) = delete;

 private:
  bool had_old_ = false;
  std::string old_;
};

// What the CPU we run on should get, from the compiler's own CPU detection.
std::string expected_best_isa() {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl"))
    return "avx512";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2";
  return "sse2";
#elif defined(__aarch64__)
  return "neon";
#else
  return "scalar";
#endif
}

std::string isa_or_null(const char* name) { return name == nullptr ? std::string("(null)") : std::string(name); }

// A small call that must succeed (or fail with the given status) under exec.
softxent_status run_softmax(const softxent_exec* exec) {
  float x[6] = {1, 2, 3, 4, 5, 6}, y[6];
  return softxent_softmax_f32(2, 3, x, 3, y, 3, exec);
}

}  // namespace

TEST_CASE("the dispatcher picks the best instruction set of the CPU: avx512 where avx512bw is present, neon on AArch64") {
  scoped_isa_variable unset(nullptr);
  const std::string expected = expected_best_isa();
  CHECK(isa_or_null(softxent_isa(nullptr)) == expected);
  softxent_exec exec{};
  CHECK(isa_or_null(softxent_isa(&exec)) == expected);
  exec.isa = "auto";
  CHECK(isa_or_null(softxent_isa(&exec)) == expected);
  CHECK(isa_or_null(softxent::isa()) == expected);
  CHECK(run_softmax(nullptr) == SOFTXENT_OK);
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512bw")) CHECK(expected == "avx512");
#elif defined(__aarch64__)
  CHECK(isa_or_null(softxent_isa(nullptr)) == "neon");
#endif
}

TEST_CASE("every instruction set this CPU has reports its own name - and reference and scalar are always there") {
  std::vector<std::string> available = available_isas();
  CHECK(std::find(available.begin(), available.end(), "reference") != available.end());
  CHECK(std::find(available.begin(), available.end(), "scalar") != available.end());
  CHECK(std::find(available.begin(), available.end(), expected_best_isa()) != available.end());
#if defined(__x86_64__)
  CHECK(std::find(available.begin(), available.end(), "sse2") != available.end());  // x86-64's baseline
#endif
  for (const std::string& name : available) {
    softxent_exec exec{};
    exec.isa = name.c_str();
    CHECK(isa_or_null(softxent_isa(&exec)) == name);
    CHECK(run_softmax(&exec) == SOFTXENT_OK);
  }
}

TEST_CASE("SOFTXENT_ISA selects the instruction set when exec.isa is NULL or auto") {
  for (const std::string& name : available_isas()) {
    scoped_isa_variable set(name.c_str());
    CAPTURE(name);
    CHECK(isa_or_null(softxent_isa(nullptr)) == name);
    softxent_exec exec{};
    exec.isa = "auto";
    CHECK(isa_or_null(softxent_isa(&exec)) == name);
    CHECK(run_softmax(nullptr) == SOFTXENT_OK);
  }
}

TEST_CASE("exec.isa wins over SOFTXENT_ISA - even when the variable names a bad instruction set") {
  std::vector<std::string> available = available_isas();
  for (const char* variable : {"scalar", "reference", "neon", "avx512", "no-such-isa"}) {
    scoped_isa_variable set(variable);
    for (const std::string& name : available) {
      softxent_exec exec{};
      exec.isa = name.c_str();
      CAPTURE(variable);
      CAPTURE(name);
      CHECK(isa_or_null(softxent_isa(&exec)) == name);
      CHECK(run_softmax(&exec) == SOFTXENT_OK);
    }
  }
}

TEST_CASE("an unknown name is INVALID_OPTION - from exec.isa or from SOFTXENT_ISA - and softxent_isa returns NULL") {
  {
    softxent_exec exec{};
    exec.isa = "avx1024";
    CHECK(softxent_isa(&exec) == nullptr);
    CHECK(run_softmax(&exec) == SOFTXENT_ERROR_INVALID_OPTION);
    CHECK(softxent::isa(exec_for("avx1024")) == nullptr);
  }
  {
    scoped_isa_variable set("avx1024");
    CHECK(softxent_isa(nullptr) == nullptr);
    CHECK(run_softmax(nullptr) == SOFTXENT_ERROR_INVALID_OPTION);
  }
}

TEST_CASE("a known but unsupported name is UNSUPPORTED_ISA - from exec.isa or from SOFTXENT_ISA - and softxent_isa returns NULL") {
  std::vector<std::string> available = available_isas();
  for (const std::string& name : all_isa_names()) {
    if (std::find(available.begin(), available.end(), name) != available.end()) continue;
    CAPTURE(name);
    softxent_exec exec{};
    exec.isa = name.c_str();
    CHECK(softxent_isa(&exec) == nullptr);
    CHECK(run_softmax(&exec) == SOFTXENT_ERROR_UNSUPPORTED_ISA);
    scoped_isa_variable set(name.c_str());
    CHECK(softxent_isa(nullptr) == nullptr);
    CHECK(run_softmax(nullptr) == SOFTXENT_ERROR_UNSUPPORTED_ISA);
    softxent_exec automatic{};
    automatic.isa = "auto";
    CHECK(softxent_isa(&automatic) == nullptr);
    CHECK(run_softmax(&automatic) == SOFTXENT_ERROR_UNSUPPORTED_ISA);
  }
}
