// The avx2 kernel table: the generic kernels instantiated over xsimd::fma3<xsimd::avx2>. This file alone is
// compiled with the avx2 -m flags (src/CMakeLists.txt); it is reached only through the table.
#include "kernels/simd.hpp"
#include "kernels/table.hpp"

namespace softxent::detail {
namespace {
constexpr kernel_table table = make_table<xsimd_ops<xsimd::fma3<xsimd::avx2>>>("avx2");
}  // namespace

const kernel_table* avx2_table() noexcept { return &table; }

}  // namespace softxent::detail
