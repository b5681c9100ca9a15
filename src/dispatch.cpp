// The one place that maps instruction-set names to kernel tables. The CPU's features are read once
// (the only global state of the library); everything else is decided per call.
#include "dispatch.hpp"

#include <cstdlib>
#include <cstring>

#if defined(SOFTXENT_HAVE_X86)
#include <cpuid.h>
#endif

namespace softxent::detail {
namespace {

struct isa_entry {
  const char* name;
  const kernel_table* (*table)() noexcept;
  bool (*cpu_has)() noexcept;
};

bool always() noexcept { return true; }

#if defined(SOFTXENT_HAVE_X86)
// Our own detection: xsimd 8.1's misreads AVX. libgcc's __builtin_cpu_supports also checks that the
// OS saves the wide registers (XGETBV), so a feature it reports is usable.
bool cpu_has_sse2() noexcept { return __builtin_cpu_supports("sse2"); }
// F16C (half-precision conversions) comes with every AVX2 CPU made, but is checked all the same: CPUID
// leaf 1, ECX bit 29 (clang 14's __builtin_cpu_supports does not know it).
bool cpu_has_f16c() noexcept {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1u << 29)) != 0;
}
bool cpu_has_avx2() noexcept {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
}
bool cpu_has_avx512() noexcept {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512cd") && cpu_has_avx2();
}
// AVX-512 BF16: CPUID leaf 7, subleaf 1, EAX bit 5 (not every compiler's __builtin_cpu_supports knows it).
bool cpu_has_avx512_bf16() noexcept {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return cpu_has_avx512() && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) != 0 && (eax & (1u << 5)) != 0;
}
#else
bool cpu_has_sse2() noexcept { return false; }
bool cpu_has_avx2() noexcept { return false; }
bool cpu_has_avx512() noexcept { return false; }
bool cpu_has_avx512_bf16() noexcept { return false; }
#endif
// NEON is part of AArch64: a build that has the table runs on a CPU that has NEON.
bool cpu_has_neon() noexcept { return neon_table() != nullptr; }

// Best first; "reference" is never chosen automatically. A name may have several tables, best first:
// the first the CPU runs is the one chosen.
const isa_entry entries[] = {
    {"avx512", avx512_bf16_table, cpu_has_avx512_bf16},
    {"avx512", avx512_table, cpu_has_avx512}, {"avx2", avx2_table, cpu_has_avx2},
    {"sse2", sse2_table, cpu_has_sse2},       {"neon", neon_table, cpu_has_neon},
    {"scalar", scalar_table, always},         {"reference", reference_table, always},
};

// The detected best table, computed once (a thread-safe static).
const kernel_table* best_table() noexcept {
  static const kernel_table* const best = [] {
    for (const isa_entry& entry : entries) {
      if (entry.table() != nullptr && entry.cpu_has()) return entry.table();
    }
    return scalar_table();
  }();
  return best;
}

bool is_auto(const char* name) noexcept { return name == nullptr || std::strcmp(name, "auto") == 0; }

table_choice lookup(const char* name) noexcept {
  bool known = false;
  for (const isa_entry& entry : entries) {
    if (std::strcmp(entry.name, name) != 0) continue;
    known = true;
    const kernel_table* table = entry.table();
    if (table != nullptr && entry.cpu_has()) return {status::ok, table};
  }
  return {known ? status::unsupported_isa : status::invalid_option, nullptr};
}

}  // namespace

table_choice choose_table(const char* isa_name) noexcept {
  if (!is_auto(isa_name)) return lookup(isa_name);
  const char* from_environment = std::getenv("SOFTXENT_ISA");
  if (from_environment != nullptr && from_environment[0] != '\0' && !is_auto(from_environment)) {
    return lookup(from_environment);
  }
  return {status::ok, best_table()};
}

}  // namespace softxent::detail
