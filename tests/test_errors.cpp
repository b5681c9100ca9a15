// Every error status, reached by the bad input that causes it, with every output shown untouched:
// all buffers live in one sentinel-filled arena whose every bit is compared after the call.
#include "test_support.hpp"

#include <cstdlib>

using namespace sxtest;

namespace {

constexpr std::size_t kRows = 3, kCols = 4;

// One arena holds every buffer of a call: inputs with valid data, outputs full of sentinels.
struct arena {
  std::vector<float> memory = std::vector<float>(1024, sentinel());
  std::vector<std::int64_t> targets = {1, 3, 0};
  float weights[kCols] = {1.0f, 0.5f, 2.0f, 1.0f};
  std::vector<float> memory_before;
  std::vector<std::int64_t> targets_before;

  arena() {
    for (std::size_t i = 0; i < kRows * kCols; ++i) {
      x()[i] = static_cast<float>(i % 5) - 1.5f;
      dy()[i] = 0.25f * static_cast<float>(i % 3) - 0.2f;
      y()[i] = 1.0f / kCols;
      probs()[i] = 1.0f / kCols;
    }
  }
  float* x() { return memory.data() + 0; }
  float* probs() { return memory.data() + 16; }
  float* y() { return memory.data() + 32; }   // a backward input (a softmax)
  float* dy() { return memory.data() + 48; }
  float* out() { return memory.data() + 256; }  // rows x cols outputs
  float* loss() { return memory.data() + 512; }
  void snapshot() {
    memory_before = memory;
    targets_before = targets;
  }
  bool untouched() const { return bitwise_equal(memory, memory_before) && targets == targets_before; }
};

#define EXPECT_REJECTED(a, expected, call)                                     \
  do {                                                                         \
    (a).snapshot();                                                            \
    CHECK((call) == (expected));                                               \
    CHECK_MESSAGE((a).untouched(), "a buffer was written by: " #call);         \
  } while (0)

softxent_cross_entropy_options c_defaults() {
  softxent_cross_entropy_options o;
  softxent_cross_entropy_options_init(&o);
  return o;
}

}  // namespace

TEST_CASE("NULL_POINTER: each needed pointer NULL while rows > 0 - nothing written") {
  arena a;
  const softxent_status E = SOFTXENT_ERROR_NULL_POINTER;
  EXPECT_REJECTED(a, E, softxent_logsumexp_f32(kRows, kCols, nullptr, kCols, a.out(), nullptr));
  EXPECT_REJECTED(a, E, softxent_logsumexp_f32(kRows, kCols, a.x(), kCols, nullptr, nullptr));
  EXPECT_REJECTED(a, E, softxent_softmax_f32(kRows, kCols, nullptr, kCols, a.out(), kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_softmax_f32(kRows, kCols, a.x(), kCols, nullptr, kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_log_softmax_f32(kRows, kCols, nullptr, kCols, a.out(), kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_log_softmax_f32(kRows, kCols, a.x(), kCols, nullptr, kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_softmax_backward_f32(kRows, kCols, nullptr, kCols, a.dy(), kCols, a.out(), kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_softmax_backward_f32(kRows, kCols, a.y(), kCols, nullptr, kCols, a.out(), kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_softmax_backward_f32(kRows, kCols, a.y(), kCols, a.dy(), kCols, nullptr, kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_log_softmax_backward_f32(kRows, kCols, nullptr, kCols, a.dy(), kCols, a.out(), kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_log_softmax_backward_f32(kRows, kCols, a.y(), kCols, nullptr, kCols, a.out(), kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_log_softmax_backward_f32(kRows, kCols, a.y(), kCols, a.dy(), kCols, nullptr, kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, nullptr, kCols, a.targets.data(), nullptr, a.loss(), a.out(), kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, a.x(), kCols, nullptr, nullptr, a.loss(), a.out(), kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, a.x(), kCols, a.targets.data(), nullptr, nullptr, a.out(), kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, kCols, nullptr, kCols, a.probs(), kCols, nullptr, a.loss(), a.out(), kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, kCols, a.x(), kCols, nullptr, kCols, nullptr, a.loss(), a.out(), kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, kCols, a.x(), kCols, a.probs(), kCols, nullptr, nullptr, a.out(), kCols, nullptr));
  // the C++ API reports the same
  EXPECT_REJECTED(a, softxent::status::null_pointer,
                  softxent::softmax({nullptr, kRows, kCols}, {a.out(), kRows, kCols}));
  EXPECT_REJECTED(a, softxent::status::null_pointer,
                  softxent::cross_entropy({a.x(), kRows, kCols}, a.targets.data(), nullptr, {a.out(), kRows, kCols}));
}

TEST_CASE("INVALID_SHAPE: cols == 0 with rows > 0") {
  arena a;
  const softxent_status E = SOFTXENT_ERROR_INVALID_SHAPE;
  EXPECT_REJECTED(a, E, softxent_logsumexp_f32(kRows, 0, a.x(), 0, a.out(), nullptr));
  EXPECT_REJECTED(a, E, softxent_softmax_f32(kRows, 0, a.x(), 0, a.out(), 0, nullptr));
  EXPECT_REJECTED(a, E, softxent_log_softmax_f32(kRows, 0, a.x(), 0, a.out(), 0, nullptr));
  EXPECT_REJECTED(a, E, softxent_softmax_backward_f32(kRows, 0, a.y(), 0, a.dy(), 0, a.out(), 0, nullptr));
  EXPECT_REJECTED(a, E, softxent_log_softmax_backward_f32(kRows, 0, a.y(), 0, a.dy(), 0, a.out(), 0, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, 0, a.x(), 0, a.targets.data(), nullptr, a.loss(), a.out(), 0, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, 0, a.x(), 0, a.probs(), 0, nullptr, a.loss(), a.out(), 0, nullptr));
}

TEST_CASE("INVALID_SHAPE: any stride smaller than cols") {
  arena a;
  const softxent_status E = SOFTXENT_ERROR_INVALID_SHAPE;
  const std::size_t S = kCols, B = kCols - 1;  // good and bad strides
  EXPECT_REJECTED(a, E, softxent_logsumexp_f32(kRows, kCols, a.x(), B, a.out(), nullptr));
  EXPECT_REJECTED(a, E, softxent_softmax_f32(kRows, kCols, a.x(), B, a.out(), S, nullptr));
  EXPECT_REJECTED(a, E, softxent_softmax_f32(kRows, kCols, a.x(), S, a.out(), B, nullptr));
  EXPECT_REJECTED(a, E, softxent_log_softmax_f32(kRows, kCols, a.x(), B, a.out(), S, nullptr));
  EXPECT_REJECTED(a, E, softxent_log_softmax_f32(kRows, kCols, a.x(), S, a.out(), B, nullptr));
  EXPECT_REJECTED(a, E, softxent_softmax_backward_f32(kRows, kCols, a.y(), B, a.dy(), S, a.out(), S, nullptr));
  EXPECT_REJECTED(a, E, softxent_softmax_backward_f32(kRows, kCols, a.y(), S, a.dy(), B, a.out(), S, nullptr));
  EXPECT_REJECTED(a, E, softxent_softmax_backward_f32(kRows, kCols, a.y(), S, a.dy(), S, a.out(), B, nullptr));
  EXPECT_REJECTED(a, E, softxent_log_softmax_backward_f32(kRows, kCols, a.y(), B, a.dy(), S, a.out(), S, nullptr));
  EXPECT_REJECTED(a, E, softxent_log_softmax_backward_f32(kRows, kCols, a.y(), S, a.dy(), B, a.out(), S, nullptr));
  EXPECT_REJECTED(a, E, softxent_log_softmax_backward_f32(kRows, kCols, a.y(), S, a.dy(), S, a.out(), B, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, a.x(), B, a.targets.data(), nullptr, a.loss(), a.out(), S, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, a.x(), S, a.targets.data(), nullptr, a.loss(), a.out(), B, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, kCols, a.x(), B, a.probs(), S, nullptr, a.loss(), a.out(), S, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, kCols, a.x(), S, a.probs(), B, nullptr, a.loss(), a.out(), S, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, kCols, a.x(), S, a.probs(), S, nullptr, a.loss(), a.out(), B, nullptr));
}

TEST_CASE("INVALID_SHAPE: a size whose element or byte count overflows size_t") {
  arena a;
  const softxent_status E = SOFTXENT_ERROR_INVALID_SHAPE;
  const std::size_t max = std::numeric_limits<std::size_t>::max();
  // rows * stride overflows the element count
  EXPECT_REJECTED(a, E, softxent_softmax_f32(max / 2, kCols, a.x(), kCols, a.out(), kCols, nullptr));
  // the element count fits, the byte count does not
  EXPECT_REJECTED(a, E, softxent_softmax_f32(max / 8, kCols, a.x(), kCols, a.out(), kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_logsumexp_f32(max / 8, kCols, a.x(), kCols, a.out(), nullptr));
  // one row whose length alone overflows the byte count
  EXPECT_REJECTED(a, E, softxent_log_softmax_f32(1, max / 2, a.x(), max / 2, a.out(), max / 2, nullptr));
  // a huge stride
  EXPECT_REJECTED(a, E, softxent_softmax_backward_f32(2, kCols, a.y(), max - 1, a.dy(), kCols, a.out(), kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_log_softmax_backward_f32(kRows, kCols, a.y(), kCols, a.dy(), kCols, a.out(), max / 3, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(max / 8, kCols, a.x(), kCols, a.targets.data(), nullptr, a.loss(), nullptr, 0, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, a.x(), kCols, a.targets.data(), nullptr, a.loss(), a.out(), max / 2, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, kCols, a.x(), kCols, a.probs(), max / 2, nullptr, a.loss(), a.out(), kCols, nullptr));
}

TEST_CASE("INVALID_SHAPE: C++ views whose rows or cols differ") {
  arena a;
  const auto E = softxent::status::invalid_shape;
  softxent::const_matrix x(a.x(), kRows, kCols);
  EXPECT_REJECTED(a, E, softxent::softmax(x, {a.out(), kRows - 1, kCols}));
  EXPECT_REJECTED(a, E, softxent::log_softmax(x, {a.out(), kRows, kCols - 1}));
  EXPECT_REJECTED(a, E, softxent::softmax_backward({a.y(), kRows, kCols}, {a.dy(), kRows, kCols - 1}, {a.out(), kRows, kCols}));
  EXPECT_REJECTED(a, E, softxent::softmax_backward({a.y(), kRows, kCols}, {a.dy(), kRows, kCols}, {a.out(), kRows + 1, kCols}));
  EXPECT_REJECTED(a, E, softxent::log_softmax_backward({a.y(), kRows, kCols}, {a.dy(), kRows - 1, kCols}, {a.out(), kRows, kCols}));
  EXPECT_REJECTED(a, E, softxent::cross_entropy(x, a.targets.data(), a.loss(), {a.out(), kRows, kCols + 1}));
  EXPECT_REJECTED(a, E, softxent::cross_entropy_soft(x, {a.probs(), kRows - 1, kCols}, a.loss(), {}));
  EXPECT_REJECTED(a, E, softxent::cross_entropy_soft(x, {a.probs(), kRows, kCols}, a.loss(), {a.out(), kRows - 1, kCols}));
}

TEST_CASE("INVALID_TARGET: a class index outside 0..cols-1 that is not the ignore index - in any row") {
  for (const std::string& isa : available_isas())
    for (std::int64_t bad : {std::int64_t{kCols}, std::int64_t{-1}, std::int64_t{-101}, std::int64_t{1000},
                             std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()})
      for (std::size_t row : {std::size_t{0}, kRows - 1})
        for (softxent_reduction reduction : {SOFTXENT_REDUCTION_MEAN, SOFTXENT_REDUCTION_SUM, SOFTXENT_REDUCTION_NONE}) {
          arena a;
          a.targets[row] = bad;
          softxent_cross_entropy_options o = c_defaults();
          o.reduction = reduction;
          softxent_exec exec{};
          exec.isa = isa.c_str();
          CAPTURE(isa);
          CAPTURE(bad);
          CAPTURE(row);
          const softxent_status E = SOFTXENT_ERROR_INVALID_TARGET;
          EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, a.x(), kCols, a.targets.data(), &o, a.loss(), a.out(), kCols, &exec));
          EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, a.x(), kCols, a.targets.data(), &o, a.loss(), nullptr, 0, &exec));
          // grad over the logits: the logits must survive too
          EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, a.x(), kCols, a.targets.data(), &o, a.loss(), a.x(), kCols, &exec));
        }
}

TEST_CASE("INVALID_TARGET in a late row of a large batch, loss only, on every thread count: nothing written") {
  // A reduced loss without gradient checks its targets inside the units of work, in parallel.
  const std::size_t rows = 5000, cols = 10;
  std::vector<float> x(rows * cols, 0.5f);
  std::vector<std::int64_t> targets(rows, 3);
  targets[rows - 7] = static_cast<std::int64_t>(cols);
  for (const std::string& isa : available_isas())
    for (int threads : {1, 2, 3})
      for (softxent_reduction reduction : {SOFTXENT_REDUCTION_MEAN, SOFTXENT_REDUCTION_SUM}) {
        softxent_cross_entropy_options o = c_defaults();
        o.reduction = reduction;
        softxent_exec exec{};
        exec.isa = isa.c_str();
        exec.threads = threads;
        float loss = -7.0f;
        CAPTURE(isa);
        CAPTURE(threads);
        CHECK(softxent_cross_entropy_f32(rows, cols, x.data(), cols, targets.data(), &o, &loss, nullptr, 0, &exec) ==
              SOFTXENT_ERROR_INVALID_TARGET);
        CHECK(loss == -7.0f);
      }
}

TEST_CASE("INVALID_OPTION: an unknown reduction") {
  arena a;
  const softxent_status E = SOFTXENT_ERROR_INVALID_OPTION;
  for (int value : {3, -1, 100}) {
    softxent_cross_entropy_options o = c_defaults();
    o.reduction = static_cast<softxent_reduction>(value);
    EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, a.x(), kCols, a.targets.data(), &o, a.loss(), a.out(), kCols, nullptr));
    EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, kCols, a.x(), kCols, a.probs(), kCols, &o, a.loss(), a.out(), kCols, nullptr));
  }
}

TEST_CASE("INVALID_OPTION: label smoothing outside 0..1 or NaN") {
  arena a;
  const softxent_status E = SOFTXENT_ERROR_INVALID_OPTION;
  for (float value : {-0.01f, 1.01f, nan_f, inf, -inf}) {
    softxent_cross_entropy_options o = c_defaults();
    o.label_smoothing = value;
    CAPTURE(value);
    EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, a.x(), kCols, a.targets.data(), &o, a.loss(), a.out(), kCols, nullptr));
    EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, kCols, a.x(), kCols, a.probs(), kCols, &o, a.loss(), nullptr, 0, nullptr));
  }
  // the ends of the range are valid
  for (float value : {0.0f, 1.0f}) {
    softxent_cross_entropy_options o = c_defaults();
    o.label_smoothing = value;
    CHECK(softxent_cross_entropy_f32(kRows, kCols, a.x(), kCols, a.targets.data(), &o, a.loss(), nullptr, 0, nullptr) == SOFTXENT_OK);
  }
}

TEST_CASE("INVALID_OPTION: a class weight that is negative - NaN or infinite") {
  const softxent_status E = SOFTXENT_ERROR_INVALID_OPTION;
  for (float value : {-1.0f, -1e-30f, nan_f, inf, -inf})
    for (std::size_t where : {std::size_t{0}, kCols - 1}) {
      arena a;
      a.weights[where] = value;
      softxent_cross_entropy_options o = c_defaults();
      o.class_weights = a.weights;
      CAPTURE(value);
      CAPTURE(where);
      EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, a.x(), kCols, a.targets.data(), &o, a.loss(), a.out(), kCols, nullptr));
      EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, kCols, a.x(), kCols, a.probs(), kCols, &o, a.loss(), a.out(), kCols, nullptr));
      CHECK(same_bits(a.weights[where], value));
    }
}

TEST_CASE("INVALID_OPTION: a z_loss that is negative - NaN or infinite") {
  arena a;
  const softxent_status E = SOFTXENT_ERROR_INVALID_OPTION;
  for (float value : {-0.5f, nan_f, inf}) {
    softxent_cross_entropy_options o = c_defaults();
    o.z_loss = value;
    CAPTURE(value);
    EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, a.x(), kCols, a.targets.data(), &o, a.loss(), a.out(), kCols, nullptr));
    EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, kCols, a.x(), kCols, a.probs(), kCols, &o, a.loss(), a.out(), kCols, nullptr));
  }
}

TEST_CASE("INVALID_OPTION: threads < 0 - on every operation") {
  arena a;
  const softxent_status E = SOFTXENT_ERROR_INVALID_OPTION;
  softxent_exec exec{};
  exec.threads = -1;
  EXPECT_REJECTED(a, E, softxent_logsumexp_f32(kRows, kCols, a.x(), kCols, a.out(), &exec));
  EXPECT_REJECTED(a, E, softxent_softmax_f32(kRows, kCols, a.x(), kCols, a.out(), kCols, &exec));
  EXPECT_REJECTED(a, E, softxent_log_softmax_f32(kRows, kCols, a.x(), kCols, a.out(), kCols, &exec));
  EXPECT_REJECTED(a, E, softxent_softmax_backward_f32(kRows, kCols, a.y(), kCols, a.dy(), kCols, a.out(), kCols, &exec));
  EXPECT_REJECTED(a, E, softxent_log_softmax_backward_f32(kRows, kCols, a.y(), kCols, a.dy(), kCols, a.out(), kCols, &exec));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, a.x(), kCols, a.targets.data(), nullptr, a.loss(), a.out(), kCols, &exec));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, kCols, a.x(), kCols, a.probs(), kCols, nullptr, a.loss(), a.out(), kCols, &exec));
  // also with a host pool set: threads is still validated
  exec.parallel_for = [](void*, std::size_t units, softxent_task task, void* context) { task(context, 0, units); };
  exec.threads = -4;
  EXPECT_REJECTED(a, E, softxent_softmax_f32(kRows, kCols, a.x(), kCols, a.out(), kCols, &exec));
}

TEST_CASE("INVALID_OPTION: an unknown instruction-set name - and softxent_isa returns NULL for it") {
  arena a;
  const softxent_status E = SOFTXENT_ERROR_INVALID_OPTION;
  for (const char* name : {"avx9000", "sse5", "fastest", "scalar "}) {
    softxent_exec exec{};
    exec.isa = name;
    CAPTURE(name);
    CHECK(softxent_isa(&exec) == nullptr);
    EXPECT_REJECTED(a, E, softxent_logsumexp_f32(kRows, kCols, a.x(), kCols, a.out(), &exec));
    EXPECT_REJECTED(a, E, softxent_softmax_f32(kRows, kCols, a.x(), kCols, a.out(), kCols, &exec));
    EXPECT_REJECTED(a, E, softxent_log_softmax_f32(kRows, kCols, a.x(), kCols, a.out(), kCols, &exec));
    EXPECT_REJECTED(a, E, softxent_softmax_backward_f32(kRows, kCols, a.y(), kCols, a.dy(), kCols, a.out(), kCols, &exec));
    EXPECT_REJECTED(a, E, softxent_log_softmax_backward_f32(kRows, kCols, a.y(), kCols, a.dy(), kCols, a.out(), kCols, &exec));
    EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, a.x(), kCols, a.targets.data(), nullptr, a.loss(), a.out(), kCols, &exec));
    EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, kCols, a.x(), kCols, a.probs(), kCols, nullptr, a.loss(), a.out(), kCols, &exec));
  }
}

TEST_CASE("UNSUPPORTED_ISA: a known instruction set this build or CPU lacks - and softxent_isa returns NULL") {
  std::vector<std::string> available = available_isas();
  std::size_t missing = 0;
  for (const std::string& name : all_isa_names()) {
    if (std::find(available.begin(), available.end(), name) != available.end()) continue;
    ++missing;
    arena a;
    const softxent_status E = SOFTXENT_ERROR_UNSUPPORTED_ISA;
    softxent_exec exec{};
    exec.isa = name.c_str();
    CAPTURE(name);
    CHECK(softxent_isa(&exec) == nullptr);
    EXPECT_REJECTED(a, E, softxent_logsumexp_f32(kRows, kCols, a.x(), kCols, a.out(), &exec));
    EXPECT_REJECTED(a, E, softxent_softmax_f32(kRows, kCols, a.x(), kCols, a.out(), kCols, &exec));
    EXPECT_REJECTED(a, E, softxent_log_softmax_f32(kRows, kCols, a.x(), kCols, a.out(), kCols, &exec));
    EXPECT_REJECTED(a, E, softxent_softmax_backward_f32(kRows, kCols, a.y(), kCols, a.dy(), kCols, a.out(), kCols, &exec));
    EXPECT_REJECTED(a, E, softxent_log_softmax_backward_f32(kRows, kCols, a.y(), kCols, a.dy(), kCols, a.out(), kCols, &exec));
    EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, a.x(), kCols, a.targets.data(), nullptr, a.loss(), a.out(), kCols, &exec));
    EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, kCols, a.x(), kCols, a.probs(), kCols, nullptr, a.loss(), a.out(), kCols, &exec));
    EXPECT_REJECTED(a, softxent::status::unsupported_isa,
                    softxent::softmax({a.x(), kRows, kCols}, {a.out(), kRows, kCols}, exec_for(name)));
  }
  // x86-64 builds have no NEON and Arm builds no AVX-512: something is always missing
  CHECK(missing > 0);
}

TEST_CASE("OVERLAP: softmax or log_softmax or logsumexp outputs that partly overlap their input") {
  arena a;
  const softxent_status E = SOFTXENT_ERROR_OVERLAP;
  float* x = a.x();
  // shifted by one element, same stride
  EXPECT_REJECTED(a, E, softxent_softmax_f32(kRows, kCols, x, kCols, x + 1, kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_log_softmax_f32(kRows, kCols, x + 1, kCols, x, kCols, nullptr));
  // same pointer, different stride: not in place
  EXPECT_REJECTED(a, E, softxent_softmax_f32(kRows, kCols, x, kCols, x, kCols + 1, nullptr));
  EXPECT_REJECTED(a, E, softxent_log_softmax_f32(kRows, kCols, x, kCols + 2, x, kCols, nullptr));
  // interleaved rows: the elements differ but the spanned memory overlaps
  EXPECT_REJECTED(a, E, softxent_softmax_f32(2, 2, x, 4, x + 2, 4, nullptr));
  // the output starts inside the input's last row
  EXPECT_REJECTED(a, E, softxent_softmax_f32(kRows, kCols, x, kCols, x + (kRows - 1) * kCols + kCols - 1, kCols, nullptr));
  // logsumexp writes rows values that must not overlap x at all, not even exactly
  EXPECT_REJECTED(a, E, softxent_logsumexp_f32(kRows, kCols, x, kCols, x, nullptr));
  EXPECT_REJECTED(a, E, softxent_logsumexp_f32(kRows, kCols, x, kCols, x + kRows * kCols - 1, nullptr));
  // C++
  EXPECT_REJECTED(a, softxent::status::overlap, softxent::softmax({x, kRows, kCols}, {x + 3, kRows, kCols}));
  // and the touching-but-disjoint neighbour is fine
  a.snapshot();
  CHECK(softxent_softmax_f32(kRows, kCols, x, kCols, x + kRows * kCols, kCols, nullptr) == SOFTXENT_OK);
}

TEST_CASE("OVERLAP: backward outputs that partly overlap an input") {
  arena a;
  const softxent_status E = SOFTXENT_ERROR_OVERLAP;
  float* y = a.y();
  float* dy = a.dy();
  EXPECT_REJECTED(a, E, softxent_softmax_backward_f32(kRows, kCols, y, kCols, dy, kCols, y + 1, kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_softmax_backward_f32(kRows, kCols, y, kCols, dy, kCols, dy - 2, kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_softmax_backward_f32(kRows, kCols, y, kCols, dy, kCols, y, kCols + 1, nullptr));
  EXPECT_REJECTED(a, E, softxent_log_softmax_backward_f32(kRows, kCols, y, kCols, dy, kCols, dy + 5, kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_log_softmax_backward_f32(kRows, kCols, y, kCols, dy, kCols, y - 1, kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_log_softmax_backward_f32(kRows, kCols, y, kCols + 1, dy, kCols, y, kCols, nullptr));
}

TEST_CASE("OVERLAP: cross-entropy outputs overlapping an input or each other - only grad == logits is allowed") {
  const softxent_status E = SOFTXENT_ERROR_OVERLAP;
  arena a;
  float* x = a.x();
  softxent_cross_entropy_options none = c_defaults();
  none.reduction = SOFTXENT_REDUCTION_NONE;
  // grad partly over the logits, or over them with another stride
  EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, x, kCols, a.targets.data(), nullptr, a.loss(), x + 1, kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, x, kCols, a.targets.data(), nullptr, a.loss(), x, kCols + 1, nullptr));
  // the loss inside the logits or inside the gradient
  EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, x, kCols, a.targets.data(), nullptr, x + 5, a.out(), kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, x, kCols, a.targets.data(), &none, a.out() + 10, a.out(), kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, x, kCols, a.targets.data(), nullptr, x, x, kCols, nullptr));
  // outputs over the targets or the class weights (inputs too)
  float* targets_as_float = reinterpret_cast<float*>(a.targets.data());
  EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, x, kCols, a.targets.data(), nullptr, targets_as_float + 1, a.out(), kCols, nullptr));
  softxent_cross_entropy_options weighted = c_defaults();
  weighted.class_weights = a.out() + 2;
  for (std::size_t j = 0; j < kCols; ++j) a.out()[2 + j] = 1.0f;
  EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(kRows, kCols, x, kCols, a.targets.data(), &weighted, a.loss(), a.out(), kCols, nullptr));
  // probability targets: grad may not alias them, even exactly
  EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, kCols, x, kCols, a.probs(), kCols, nullptr, a.loss(), a.probs(), kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, kCols, x, kCols, a.probs(), kCols, nullptr, a.loss(), a.probs() + 3, kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, kCols, x, kCols, a.probs(), kCols, &none, a.probs() + 11, a.out(), kCols, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(kRows, kCols, x, kCols, a.probs(), kCols, nullptr, a.loss(), x + 2, kCols, nullptr));
}

TEST_CASE("rows == 0 still checks the options") {
  arena a;
  const softxent_status E = SOFTXENT_ERROR_INVALID_OPTION;
  softxent_cross_entropy_options o = c_defaults();
  o.label_smoothing = nan_f;
  EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(0, kCols, nullptr, kCols, nullptr, &o, nullptr, nullptr, 0, nullptr));
  EXPECT_REJECTED(a, E, softxent_cross_entropy_soft_f32(0, kCols, nullptr, kCols, nullptr, kCols, &o, nullptr, nullptr, 0, nullptr));
  o = c_defaults();
  o.reduction = bad_enum<softxent_reduction>(9);
  EXPECT_REJECTED(a, E, softxent_cross_entropy_f32(0, kCols, nullptr, kCols, nullptr, &o, nullptr, nullptr, 0, nullptr));
  softxent_exec exec{};
  exec.threads = -2;
  EXPECT_REJECTED(a, E, softxent_softmax_f32(0, kCols, nullptr, kCols, nullptr, kCols, &exec));
  exec.threads = 0;
  exec.isa = "no-such-isa";
  EXPECT_REJECTED(a, E, softxent_logsumexp_f32(0, kCols, nullptr, kCols, nullptr, &exec));
}

TEST_CASE("every status has its own description - and unknown values say so") {
  std::vector<std::string> seen;
  for (int s = 0; s <= 6; ++s) {
    const char* text = softxent_status_string(static_cast<softxent_status>(s));
    REQUIRE(text != nullptr);
    CHECK(std::strlen(text) > 0);
    CHECK(std::find(seen.begin(), seen.end(), text) == seen.end());
    seen.emplace_back(text);
    CHECK(std::string(softxent::status_string(static_cast<softxent::status>(s))) == text);
  }
  const char* unknown = softxent_status_string(bad_enum<softxent_status>(77));
  REQUIRE(unknown != nullptr);
  CHECK(std::string(unknown) == "unknown status");
}

TEST_CASE("the version is MAJOR.MINOR.PATCH and the C and C++ answers agree") {
  const char* v = softxent_version();
  REQUIRE(v != nullptr);
  CHECK(std::string(v) == softxent::version());
  int dots = 0;
  bool digits_only = true;
  for (const char* p = v; *p; ++p) {
    if (*p == '.')
      ++dots;
    else if (*p < '0' || *p > '9')
      digits_only = false;
  }
  CHECK(dots == 2);
  CHECK(digits_only);
}

TEST_CASE("options_init fills PyTorch's defaults - and NULL options mean the same") {
  softxent_cross_entropy_options o;
  std::memset(&o, 0xff, sizeof o);
  softxent_cross_entropy_options_init(&o);
  CHECK(o.reduction == SOFTXENT_REDUCTION_MEAN);
  CHECK(o.ignore_index == -100);
  CHECK(o.label_smoothing == 0.0f);
  CHECK(o.class_weights == nullptr);
  CHECK(o.z_loss == 0.0f);
  arena a;
  a.targets[1] = -100;
  float with_null = sentinel(), with_defaults = sentinel();
  REQUIRE(softxent_cross_entropy_f32(kRows, kCols, a.x(), kCols, a.targets.data(), nullptr, &with_null, nullptr, 0, nullptr) == SOFTXENT_OK);
  REQUIRE(softxent_cross_entropy_f32(kRows, kCols, a.x(), kCols, a.targets.data(), &o, &with_defaults, nullptr, 0, nullptr) == SOFTXENT_OK);
  CHECK(same_bits(with_null, with_defaults));
  // and both are the mean over the two counted rows
  buffer x(kRows, kCols);
  std::copy(a.x(), a.x() + kRows * kCols, x.data());
  softxent::cross_entropy_options defaults;
  cross_entropy_result exact = reference_cross_entropy(make_problem(x, a.targets.data(), nullptr, defaults));
  tally t("NULL options");
  t.expect(0, 0, with_null, exact.loss[0], exact.loss_bound[0]);
  SXTEST_CHECK_TALLY(t);
}
