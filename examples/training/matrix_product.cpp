#include "matrix_product.hpp"

#ifdef SOFTXENT_EXAMPLE_HAVE_CBLAS
#include <cblas.h>
// OpenBLAS's own (the build asks FindBLAS for OpenBLAS); declared here too in case cblas.h is another's.
extern "C" void openblas_set_num_threads(int threads);
#endif

namespace training {

#ifdef SOFTXENT_EXAMPLE_HAVE_CBLAS

void matrix_product(transpose transpose_a, transpose transpose_b, std::size_t m, std::size_t n, std::size_t k,
                    const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                    std::size_t ldc) {
  // These products are small: OpenBLAS's threads would only contend with softxent's, and make the
  // rounding depend on how OpenBLAS splits the work. One thread is faster here, and reproducible.
  static const bool single_threaded = (openblas_set_num_threads(1), true);
  static_cast<void>(single_threaded);
  const auto blas_transpose = [](transpose t) { return t == transpose::yes ? CblasTrans : CblasNoTrans; };
  // BLAS sizes are int: the example's matrices are far below INT_MAX elements per side.
  cblas_sgemm(CblasRowMajor, blas_transpose(transpose_a), blas_transpose(transpose_b), static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta,
              c, static_cast<int>(ldc));
}

const char* matrix_product_backend() { return "OpenBLAS cblas_sgemm"; }

#else

void matrix_product(transpose transpose_a, transpose transpose_b, std::size_t m, std::size_t n, std::size_t k,
                    const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                    std::size_t ldc) {
  const auto a_at = [&](std::size_t i, std::size_t p) {
    return transpose_a == transpose::yes ? a[p * lda + i] : a[i * lda + p];
  };
  for (std::size_t i = 0; i < m; ++i) {
    float* c_row = c + i * ldc;
    for (std::size_t j = 0; j < n; ++j) c_row[j] = beta == 0.0f ? 0.0f : beta * c_row[j];
    if (transpose_b == transpose::no) {
      // Rows of B are contiguous: accumulate a_ip * (row p of B) so the inner loop vectorizes.
      for (std::size_t p = 0; p < k; ++p) {
        const float a_ip = a_at(i, p);
        const float* b_row = b + p * ldb;
        for (std::size_t j = 0; j < n; ++j) c_row[j] += a_ip * b_row[j];
      }
    } else {
      // Columns of op(B) are rows of B: each c_ij is a dot product of contiguous rows.
      for (std::size_t j = 0; j < n; ++j) {
        const float* b_row = b + j * ldb;
        float sum = 0.0f;
        for (std::size_t p = 0; p < k; ++p) sum += a_at(i, p) * b_row[p];
        c_row[j] += sum;
      }
    }
  }
}

const char* matrix_product_backend() { return "plain loops (OpenBLAS not found)"; }

#endif

}  // namespace training
