// The avx512 kernel table for CPUs with AVX-512 BF16: the avx512 kernels, with bf16 outputs encoded
// by vcvtneps2bf16. This file alone is compiled with -mavx512bf16 besides the avx512 flags
// (src/CMakeLists.txt); the dispatcher gives it the name "avx512" on such CPUs.
#include "kernels/simd.hpp"
#include "kernels/table.hpp"

namespace softxent::detail {
namespace {
constexpr kernel_table table = make_table<xsimd_ops<xsimd::avx512bw, true>>("avx512");
}  // namespace

const kernel_table* avx512_bf16_table() noexcept { return &table; }

}  // namespace softxent::detail
