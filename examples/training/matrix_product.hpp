// Matrix products for the training example: OpenBLAS's cblas_sgemm when the build found it, plain
// loops otherwise (slower, same results up to rounding).
#ifndef SOFTXENT_EXAMPLES_TRAINING_MATRIX_PRODUCT_HPP
#define SOFTXENT_EXAMPLES_TRAINING_MATRIX_PRODUCT_HPP

#include <cstddef>

namespace training {

enum class transpose : bool { no = false, yes = true };

// C = op(A) op(B) + beta * C for row-major matrices: op(A) is m x k, op(B) k x n, C m x n; op(X) is
// X or its transpose; lda, ldb, ldc are the row strides of A, B, C as stored.
void matrix_product(transpose transpose_a, transpose transpose_b, std::size_t m, std::size_t n, std::size_t k,
                    const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                    std::size_t ldc);

// "OpenBLAS cblas_sgemm" or "plain loops".
const char* matrix_product_backend();

}  // namespace training

#endif  // SOFTXENT_EXAMPLES_TRAINING_MATRIX_PRODUCT_HPP
