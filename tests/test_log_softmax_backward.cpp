// log_softmax_backward (dx = dy - exp(y) * sum_j dy_j) on every instruction set against the long double
// reference (SPEC.md: error at most 8 * eps * (|dy_j| + exp(y_j) * sum_k |dy_k|) + 1e-37).
#include "test_support.hpp"

using namespace sxtest;

TEST_CASE("log_softmax_backward matches the reference for every instruction set x length x stride x misaligned start: lengths 1 to 4097") { sweep_backward(true, 2, 1, short_sweep_lengths(), 41); }

TEST_SUITE("slow") {
  TEST_CASE("log_softmax_backward matches the reference for every instruction set x length x stride x misaligned start: lengths 32000 and 128256") { sweep_backward(true, 2, 1, long_sweep_lengths(), 1041); }
}
