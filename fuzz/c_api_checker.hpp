// One fuzz case over softxent's C API: the bytes choose an operation (every public call: the _f32 and
// generic calls, sharded cross-entropy, top-k and sampling, the fused linear cross-entropy), a
// shape, element types, strides, aliasing, options (the softmax transform, cross-entropy's, k and
// sampling's, seeds; the linear call's NULL gradients and workspace), an exec (ISA, threads, host
// pool) and the values (fuzz_case.hpp); the case calls the library, checks it against the exact
// formulas (tests/oracle/oracle.hpp) within
// SPEC.md's bounds, against the "reference" ISA, and against itself with other thread counts and pool
// groupings (bit for bit), and checks that every call gets the status its arguments demand and writes
// nothing after an error (call_check.hpp).
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
