// The sse2 kernel table: the generic kernels instantiated over xsimd::sse2. This file alone is
// compiled with the sse2 -m flags (src/CMakeLists.txt); it is reached only through the table.
#include "kernels/simd.hpp"
#include "kernels/table.hpp"

namespace softxent::detail {
namespace {
constexpr kernel_table table = make_table<xsimd_ops<xsimd::sse2>>("sse2");
}  // namespace

const kernel_table* sse2_table() noexcept { return &table; }

}  // namespace softxent::detail
