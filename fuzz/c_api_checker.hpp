// One fuzz case over softxent's C API: the bytes choose an operation, a shape, strides, aliasing,
// options, an exec (ISA, threads, host pool) and the values; the case calls the library, checks it
// against the exact formulas (tests/reliability/oracle.hpp) within SPEC.md's bounds, against the
// "reference" ISA, and against itself with other thread counts and pool groupings (bit for bit), and
// checks that an invalid call gets its status and leaves every output untouched.
//
// Used by the libFuzzer target (fuzz_c_api.cpp) and by the reliability tests, which replay the
// committed corpus in every build (tests/reliability/test_fuzz_corpus.cpp).
#ifndef SOFTXENT_FUZZ_C_API_CHECKER_HPP
#define SOFTXENT_FUZZ_C_API_CHECKER_HPP

#include <cstddef>
#include <cstdint>
#include <string>

namespace softxent_fuzz {

// Runs one case; returns "" when everything held, else what went wrong (with the case described).
std::string check_case(const std::uint8_t* data, std::size_t size);

// A readable description of the case the bytes encode (for reports and regression tests).
std::string describe_case(const std::uint8_t* data, std::size_t size);

// The case and all its input values, for reproducing a failure outside the fuzzer.
std::string dump_case(const std::uint8_t* data, std::size_t size);

}  // namespace softxent_fuzz

#endif  // SOFTXENT_FUZZ_C_API_CHECKER_HPP
