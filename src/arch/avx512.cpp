// The avx512 kernel table: the generic kernels instantiated over xsimd::avx512bw. This file alone is
// compiled with the avx512 -m flags (src/CMakeLists.txt); it is reached only through the table.
#include "kernels/simd.hpp"
#include "kernels/table.hpp"

namespace softxent::detail {
namespace {
constexpr kernel_table table = make_table<xsimd_ops<xsimd::avx512bw>>("avx512");
}  // namespace

const kernel_table* avx512_table() noexcept { return &table; }

}  // namespace softxent::detail
