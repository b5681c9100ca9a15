// ISA dispatch: auto picks the best instruction set the CPU has (under qemu in CI the CPU is a
// Haswell or a Nehalem, and SOFTXENT_EXPECT_ISA says what must be picked), the ones it lacks are
// refused without writing anything, and SOFTXENT_ISA steers auto but not an explicit exec.isa.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "support.hpp"

namespace softxent_reliability {
namespace {

// This test's own reading of the CPU (libgcc's, which also checks that the OS saves the registers).
std::vector<std::string> cpu_isas() {
  std::vector<std::string> isas = {"reference", "scalar"};
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool sse2 = __builtin_cpu_supports("sse2");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512cd");
  if (sse2) isas.push_back("sse2");
  if (avx2) isas.push_back("avx2");
  if (avx512) isas.push_back("avx512");
#elif defined(__aarch64__)
  isas.push_back("neon");
#endif
  return isas;
}

bool has(const std::vector<std::string>& list, const char* name) {
  for (const std::string& s : list)
    if (s == name) return true;
  return false;
}

std::string name_or_null(const char* s) { return s ? s : "(null)"; }

}  // namespace

TEST_SUITE("isa") {
  TEST_CASE("isa dispatch: auto picks the best instruction set the CPU has") {
    const std::vector<std::string> cpu = cpu_isas();
    const char* environment = std::getenv("SOFTXENT_ISA");
    if (environment != nullptr && environment[0] != '\0' && std::strcmp(environment, "auto") != 0) {
      MESSAGE("SOFTXENT_ISA=" << environment << " is set: auto follows it (tested below)");
      return;
    }
    const std::string best = cpu.back();
    CHECK(name_or_null(softxent_isa(nullptr)) == best);
    softxent_exec exec{};
    exec.isa = "auto";
    CHECK(name_or_null(softxent_isa(&exec)) == best);
    if (const char* expect = std::getenv("SOFTXENT_EXPECT_ISA")) {
      // Set by the emulated runs (qemu -cpu Haswell: avx2; -cpu Nehalem: sse2).
      CHECK(name_or_null(softxent_isa(nullptr)) == expect);
    }
  }

  TEST_CASE("isa dispatch: every instruction set the CPU has is accepted, the others refused untouched") {
    const std::vector<std::string> cpu = cpu_isas();
    const float x[6] = {1, 2, 3, -1, 0, 1};
    for (const char* name : {"reference", "scalar", "sse2", "avx2", "avx512", "neon"}) {
      softxent_exec exec{};
      exec.isa = name;
      float y[6] = {7, 7, 7, 7, 7, 7};
      const softxent_status s = softxent_softmax_f32(2, 3, x, 3, y, 3, &exec);
      INFO("isa " << name);
      if (has(cpu, name)) {
        CHECK(s == SOFTXENT_OK);
        CHECK(name_or_null(softxent_isa(&exec)) == name);
      } else {
        // A build may lack an ISA the CPU has (neon on x86), never the reverse.
        CHECK(s == SOFTXENT_ERROR_UNSUPPORTED_ISA);
        CHECK(softxent_isa(&exec) == nullptr);
        for (float v : y) CHECK(v == 7.0f);
      }
    }
  }

  TEST_CASE("isa dispatch: SOFTXENT_ISA steers auto, exec.isa wins over it") {
    const std::vector<std::string> cpu = cpu_isas();
    const char* inherited = std::getenv("SOFTXENT_ISA");
    const std::string saved = inherited ? inherited : "";
    const float x[3] = {0.5f, 1.5f, -2.0f};
    for (const char* name : {"scalar", "sse2", "avx2", "avx512", "reference"}) {
      setenv("SOFTXENT_ISA", name, 1);
      INFO("SOFTXENT_ISA=" << name);
      float lse = 42.0f;
      const softxent_status s = softxent_logsumexp_f32(1, 3, x, 3, &lse, nullptr);
      if (has(cpu, name)) {
        CHECK(name_or_null(softxent_isa(nullptr)) == name);
        CHECK(s == SOFTXENT_OK);
      } else {
        CHECK(softxent_isa(nullptr) == nullptr);
        CHECK(s == SOFTXENT_ERROR_UNSUPPORTED_ISA);
        CHECK(lse == 42.0f);
      }
      softxent_exec exec{};
      exec.isa = "scalar";
      CHECK(name_or_null(softxent_isa(&exec)) == "scalar");
    }
    setenv("SOFTXENT_ISA", "bogus", 1);
    float lse = 42.0f;
    CHECK(softxent_logsumexp_f32(1, 3, x, 3, &lse, nullptr) == SOFTXENT_ERROR_INVALID_OPTION);
    CHECK(lse == 42.0f);
    if (inherited) setenv("SOFTXENT_ISA", saved.c_str(), 1);
    else unsetenv("SOFTXENT_ISA");
  }
}

}  // namespace softxent_reliability
