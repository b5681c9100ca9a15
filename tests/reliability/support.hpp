// Helpers of the reliability tests: the ISAs to test, buffers fenced by inaccessible pages, seeded
// inputs, and a crash context that the SIGSEGV handler prints (main.cpp).
#ifndef SOFTXENT_TESTS_RELIABILITY_SUPPORT_HPP
#define SOFTXENT_TESTS_RELIABILITY_SUPPORT_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "softxent/softxent.h"

namespace softxent_reliability {

// Every instruction set softxent_isa() accepts on this CPU and build, "reference" first (under an
// emulated CPU, SOFTXENT_RELIABILITY_EMULATED=1, only the SIMD ones).
std::vector<const char*> supported_isas();

// True when SOFTXENT_RELIABILITY_QUICK is set (emulated CPUs): fewer shapes.
bool quick_mode();

// What the test is doing right now; a crash (SIGSEGV, SIGBUS, SIGILL) prints it.
void set_crash_context(const std::string& context);
const char* crash_context();

// The row lengths every operation is tried with: 1..70 and lengths around vector widths, chunks
// (4096) and unrolled loops.
std::vector<std::size_t> interesting_cols();

// Where a guarded buffer sits in its mapping.
enum class placement {
  end_at_guard,    // the last byte is right before a PROT_NONE page
  start_at_guard,  // the first byte is right after a PROT_NONE page
};

// count elements of T in their own mapping between two PROT_NONE pages.
class guarded_bytes {
 public:
  guarded_bytes(std::size_t bytes, placement where);
  ~guarded_bytes();
  guarded_bytes(const guarded_bytes&) = delete;
  guarded_bytes& operator=(const guarded_bytes&) = delete;
  void* data() const { return data_; }
  // mprotect(PROT_READ) the data pages: any write faults.
  void make_read_only();

 private:
  void* mapping_ = nullptr;
  std::size_t mapping_bytes_ = 0;
  void* data_ = nullptr;
  std::size_t data_pages_bytes_ = 0;
  char* data_pages_ = nullptr;
};

template <class T>
class guarded {
 public:
  guarded(std::size_t count, placement where) : bytes_(count * sizeof(T), where), count_(count) {}
  T* data() const { return static_cast<T*>(bytes_.data()); }
  std::size_t size() const { return count_; }
  T& operator[](std::size_t i) const { return data()[i]; }
  void make_read_only() { bytes_.make_read_only(); }

 private:
  guarded_bytes bytes_;
  std::size_t count_;
};

// Elements a rows x cols matrix with a stride spans.
inline std::size_t span(std::size_t rows, std::size_t cols, std::size_t stride) {
  return rows == 0 ? 0 : (rows - 1) * stride + cols;
}

// Seeded inputs: logits (normal, scale 4, about one in 16 masked with -inf when masked is set);
// probability rows; softmax outputs; log-softmax outputs; upstream gradients.
void fill_logits(float* x, std::size_t rows, std::size_t cols, std::size_t stride, std::uint64_t seed, bool masked);
void fill_probabilities(float* p, std::size_t rows, std::size_t cols, std::size_t stride, std::uint64_t seed);
void fill_softmax_output(float* y, std::size_t rows, std::size_t cols, std::size_t stride, std::uint64_t seed, bool log_form);
void fill_gradient(float* dy, std::size_t rows, std::size_t cols, std::size_t stride, std::uint64_t seed);

}  // namespace softxent_reliability

#endif  // SOFTXENT_TESTS_RELIABILITY_SUPPORT_HPP
