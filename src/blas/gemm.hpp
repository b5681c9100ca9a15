// The one door to the BLAS: a single-threaded sgemm on row-major matrices. Every product of the fused
// linear cross-entropy goes through it, one call per unit of work, so that the library's own units,
// not the BLAS's threads, decide how the work is split (and the bits never depend on a thread count).
#ifndef SOFTXENT_SRC_BLAS_GEMM_HPP
#define SOFTXENT_SRC_BLAS_GEMM_HPP

#include <cstddef>

namespace softxent::detail {

// True when this build has a BLAS (CMake option SOFTXENT_BLAS is not OFF).
bool have_blas() noexcept;

// The largest size or stride the BLAS takes (its integers are int).
std::size_t blas_size_limit() noexcept;

enum class transpose : bool { no = false, yes = true };

// C = op(A) op(B) + beta * C, op(A) m x k, op(B) k x n, C m x n, each with its row stride (ld*).
// Sizes within blas_size_limit(); beta 0 ignores what C held (NaN included).
void gemm(transpose transpose_a, transpose transpose_b, std::size_t m, std::size_t n, std::size_t k, const float* a,
          std::size_t lda, const float* b, std::size_t ldb, float beta, float* c, std::size_t ldc) noexcept;

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_BLAS_GEMM_HPP
