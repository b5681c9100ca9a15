// The tests' exact arithmetic: the type `real` and float's eps, apart from test_support.hpp so that
// code without doctest (the fuzz checker's use of select_rules.hpp) shares them.
#ifndef SOFTXENT_TESTS_REAL_HPP
#define SOFTXENT_TESTS_REAL_HPP

#include <limits>
#include <type_traits>

namespace sxtest {

// The reference's arithmetic: long double where it is x86's 64-bit-significand format, which costs
// little more than double; double where long double is IEEE quad done in software (AArch64), 30 times
// slower than double and the whole suite's time under qemu. double's 53 bits are still 2^30 times
// finer than float's, whose bounds the tests check.
using real = std::conditional_t<std::numeric_limits<long double>::digits <= 64, long double, double>;

constexpr real eps = real(1) / real(8388608);  // 2^-23, float's machine epsilon

}  // namespace sxtest

#endif  // SOFTXENT_TESTS_REAL_HPP
