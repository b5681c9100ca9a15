// gemm through the BLAS chosen at configure time (cmake/SoftxentBlas.cmake):
//   BLIS (default): bli_sgemm_ex with a runtime object asking for one thread, so each call runs on
//     the calling thread whatever the BLIS build or BLIS_NUM_THREADS say, and concurrent calls from
//     softxent's threads are safe (Debian's serial OpenBLAS 0.3.21 is not: its packing buffers race).
//   CBLAS: cblas_sgemm of any CBLAS; it must be single-threaded and safe to call from several threads.
#include "blas/gemm.hpp"

#include <climits>
#include <cstdint>

#if defined(SOFTXENT_BLAS_BLIS)
#include <blis.h>
#elif defined(SOFTXENT_BLAS_CBLAS)
#include <cblas.h>
#endif

namespace softxent::detail {

#if defined(SOFTXENT_BLAS_BLIS)

namespace {

// BLIS's kernels for this CPU. BLIS 0.9 falls back to its slow portable kernels on CPUs newer than
// it knows (AMD Zen 5 among them); those get the kernels of the instruction set they have. A
// BLIS_ARCH_TYPE in the environment is BLIS's own choice and stays.
cntx_t* blis_context() noexcept {
  bli_init();
  if (bli_arch_query_id() != BLIS_ARCH_GENERIC) return nullptr;  // BLIS's choice
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
    return bli_gks_lookup_id(BLIS_ARCH_SKX)[BLIS_NAT];
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return bli_gks_lookup_id(BLIS_ARCH_HASWELL)[BLIS_NAT];
#endif
  return nullptr;
}

}  // namespace

bool have_blas() noexcept { return true; }

std::size_t blas_size_limit() noexcept { return static_cast<std::size_t>(INT64_MAX); }

void gemm(transpose transpose_a, transpose transpose_b, std::size_t m, std::size_t n, std::size_t k, const float* a,
          std::size_t lda, const float* b, std::size_t ldb, float beta, float* c, std::size_t ldc) noexcept {
  if (m == 0 || n == 0) return;
  static cntx_t* const context = blis_context();
  rntm_t runtime = BLIS_RNTM_INITIALIZER;
  bli_rntm_set_num_threads(1, &runtime);
  const auto op = [](transpose t) { return t == transpose::yes ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE; };
  const auto dim = [](std::size_t v) { return static_cast<dim_t>(v); };
  float one = 1.0f;
  // Row-major: row stride ld, column stride 1 (BLIS takes both, for A and B as stored).
  bli_sgemm_ex(op(transpose_a), op(transpose_b), dim(m), dim(n), dim(k), &one, const_cast<float*>(a), dim(lda), 1,
               const_cast<float*>(b), dim(ldb), 1, &beta, c, dim(ldc), 1, context, &runtime);
}

#elif defined(SOFTXENT_BLAS_CBLAS)

bool have_blas() noexcept { return true; }

std::size_t blas_size_limit() noexcept { return static_cast<std::size_t>(INT_MAX); }

void gemm(transpose transpose_a, transpose transpose_b, std::size_t m, std::size_t n, std::size_t k, const float* a,
          std::size_t lda, const float* b, std::size_t ldb, float beta, float* c, std::size_t ldc) noexcept {
  if (m == 0 || n == 0) return;
  const auto op = [](transpose t) { return t == transpose::yes ? CblasTrans : CblasNoTrans; };
  cblas_sgemm(CblasRowMajor, op(transpose_a), op(transpose_b), static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c,
              static_cast<int>(ldc));
}

#else

bool have_blas() noexcept { return false; }
std::size_t blas_size_limit() noexcept { return 0; }
void gemm(transpose, transpose, std::size_t, std::size_t, std::size_t, const float*, std::size_t, const float*,
          std::size_t, float, float*, std::size_t) noexcept {}

#endif

}  // namespace softxent::detail
