#include "support.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <random>
#include <stdexcept>

namespace softxent_reliability {

std::vector<const char*> supported_isas() {
  std::vector<const char*> isas;
  // Under an emulated CPU only the SIMD tables are of interest: reference and scalar are the same
  // baseline code that the native run tests, at a tenth of the cost.
  const char* emulated = std::getenv("SOFTXENT_RELIABILITY_EMULATED");
  const bool simd_only = emulated != nullptr && emulated[0] == '1';
  for (const char* name : {"reference", "scalar", "sse2", "avx2", "avx512", "neon"}) {
    if (simd_only && (std::strcmp(name, "reference") == 0 || std::strcmp(name, "scalar") == 0)) continue;
    softxent_exec exec{};
    exec.isa = name;
    if (softxent_isa(&exec) != nullptr) isas.push_back(name);
  }
  return isas;
}

bool quick_mode() {
  const char* quick = std::getenv("SOFTXENT_RELIABILITY_QUICK");
  return quick != nullptr && quick[0] != '\0' && quick[0] != '0';
}

namespace {
std::mutex crash_context_mutex;
char crash_context_text[512] = "(none)";
}  // namespace

const char* crash_context() { return crash_context_text; }

void set_crash_context(const std::string& context) {
  std::lock_guard<std::mutex> lock(crash_context_mutex);
  const std::size_t n = std::min(context.size(), sizeof crash_context_text - 1);
  std::memcpy(crash_context_text, context.data(), n);
  crash_context_text[n] = '\0';
}

std::vector<std::size_t> interesting_cols() {
  std::vector<std::size_t> cols;
  const std::size_t small = quick_mode() ? 33 : 70;
  for (std::size_t c = 1; c <= small; ++c) cols.push_back(c);
  const std::size_t quick[] = {63, 64, 65, 4097};
  const std::size_t full[] = {127, 128, 129, 255, 256, 257, 1000, 1023, 1024, 1025, 4095, 4096, 4097, 8191, 8193, 12289};
  if (quick_mode()) cols.insert(cols.end(), std::begin(quick), std::end(quick));
  else cols.insert(cols.end(), std::begin(full), std::end(full));
  return cols;
}

guarded_bytes::guarded_bytes(std::size_t bytes, placement where) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  data_pages_bytes_ = (bytes + page - 1) / page * page;
  if (data_pages_bytes_ == 0) data_pages_bytes_ = page;
  mapping_bytes_ = data_pages_bytes_ + 2 * page;
  mapping_ = mmap(nullptr, mapping_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping_ == MAP_FAILED) throw std::runtime_error("mmap failed");
  char* base = static_cast<char*>(mapping_);
  data_pages_ = base + page;
  if (mprotect(base, page, PROT_NONE) != 0 || mprotect(data_pages_ + data_pages_bytes_, page, PROT_NONE) != 0)
    throw std::runtime_error("mprotect failed");
  data_ = where == placement::end_at_guard ? data_pages_ + data_pages_bytes_ - bytes : data_pages_;
}

guarded_bytes::~guarded_bytes() { munmap(mapping_, mapping_bytes_); }

void guarded_bytes::make_read_only() {
  if (mprotect(data_pages_, data_pages_bytes_, PROT_READ) != 0) throw std::runtime_error("mprotect failed");
}

void fill_logits(float* x, std::size_t rows, std::size_t cols, std::size_t stride, std::uint64_t seed, bool masked) {
  std::mt19937_64 bits(seed);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      const bool mask = masked && bits() % 16 == 0 && c != 0;
      x[r * stride + c] = mask ? -std::numeric_limits<float>::infinity() : normal(bits);
    }
  }
}

void fill_probabilities(float* p, std::size_t rows, std::size_t cols, std::size_t stride, std::uint64_t seed) {
  std::mt19937_64 bits(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<double> row(cols);
  for (std::size_t r = 0; r < rows; ++r) {
    double total = 0;
    for (std::size_t c = 0; c < cols; ++c) total += row[c] = uniform(bits);
    for (std::size_t c = 0; c < cols; ++c) p[r * stride + c] = static_cast<float>(row[c] / total);
  }
}

void fill_softmax_output(float* y, std::size_t rows, std::size_t cols, std::size_t stride, std::uint64_t seed,
                         bool log_form) {
  std::mt19937_64 bits(seed);
  std::normal_distribution<double> normal(0.0, 3.0);
  std::vector<double> row(cols);
  for (std::size_t r = 0; r < rows; ++r) {
    double max = -INFINITY, total = 0;
    for (std::size_t c = 0; c < cols; ++c) max = std::fmax(max, row[c] = normal(bits));
    for (std::size_t c = 0; c < cols; ++c) total += std::exp(row[c] - max);
    for (std::size_t c = 0; c < cols; ++c)
      y[r * stride + c] = static_cast<float>(log_form ? row[c] - max - std::log(total) : std::exp(row[c] - max) / total);
  }
}

void fill_gradient(float* dy, std::size_t rows, std::size_t cols, std::size_t stride, std::uint64_t seed) {
  std::mt19937_64 bits(seed);
  std::uniform_real_distribution<float> uniform(-2.0f, 2.0f);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) dy[r * stride + c] = uniform(bits);
}

}  // namespace softxent_reliability
