// The portable scalar kernel table: the generic kernels one float at a time (std::exp), for CPUs
// without a supported vector ISA, and the tables the build lacks.
#define SOFTXENT_SCALAR_ONLY 1
#include "kernels/simd.hpp"
#include "kernels/table.hpp"

namespace softxent::detail {
namespace {
constexpr kernel_table table = make_table<scalar_ops>("scalar");
}  // namespace

const kernel_table* scalar_table() noexcept { return &table; }

// Instruction sets this build has no object for.
#if !defined(SOFTXENT_HAVE_X86)
const kernel_table* sse2_table() noexcept { return nullptr; }
const kernel_table* avx2_table() noexcept { return nullptr; }
const kernel_table* avx512_table() noexcept { return nullptr; }
const kernel_table* avx512_bf16_table() noexcept { return nullptr; }
#endif
#if !defined(SOFTXENT_HAVE_NEON)
const kernel_table* neon_table() noexcept { return nullptr; }
#endif

}  // namespace softxent::detail
