// softmax_backward (dx = y * (dy - sum_j dy_j y_j)) on every instruction set against the long double
// reference (SPEC.md: error at most 8 * eps * |y_j| * (|dy_j| + sum_k |dy_k y_k|) + 1e-37).
#include "test_support.hpp"

using namespace sxtest;

TEST_CASE("softmax_backward matches the reference for every instruction set x length x stride x misaligned start: lengths 1 to 4097") { sweep_backward(false, 1, 2, short_sweep_lengths(), 31); }

TEST_SUITE("slow") {
  TEST_CASE("softmax_backward matches the reference for every instruction set x length x stride x misaligned start: lengths 32000 and 128256") { sweep_backward(false, 1, 2, long_sweep_lengths(), 1031); }
}
