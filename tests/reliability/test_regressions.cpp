// Regression tests: one TEST_CASE per defect the reliability work found, with the exact input that
// showed it (see the final report of issue 5 for each defect's description).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "oracle.hpp"
#include "support.hpp"
