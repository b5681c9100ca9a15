// The avx512 kernel tables: the generic kernels instantiated over xsimd::avx512bw, and the same with
// bf16 outputs encoded by AVX-512 BF16's vcvtneps2bf16, which the dispatcher picks under the name
// "avx512" on CPUs that have it. This file alone is compiled with the avx512 -m flags
// (src/CMakeLists.txt); it is reached only through the tables. Both tables are made here, with the
// same flags, so that no inline function of theirs is compiled twice under different flags (the
// instruction is emitted by inline assembly, not by -mavx512bf16).
#include "kernels/simd.hpp"
#include "kernels/table.hpp"

namespace softxent::detail {
namespace {
constexpr kernel_table table = make_table<xsimd_ops<xsimd::avx512bw>>("avx512");
constexpr kernel_table bf16_table = make_table<xsimd_ops<xsimd::avx512bw, true>>("avx512");
}  // namespace

const kernel_table* avx512_table() noexcept { return &table; }
const kernel_table* avx512_bf16_table() noexcept { return &bf16_table; }

}  // namespace softxent::detail
