// Results are bitwise identical whatever the thread count (1, 2, 3, 8), whatever host pool runs the
// units and however it groups and orders them, and between runs: every output of every operation,
// reduced losses included, on every instruction set.
#include "test_support.hpp"

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

using namespace sxtest;

namespace {

// A host pool that records its calls and checks that the ranges it is given cover [0, units) once.
struct recording_pool {
  std::size_t calls = 0;
  std::size_t last_units = 0;
  std::uint64_t seed = 1;
};

// Runs the units one by one, last first.
void reverse_pool(void* pool, std::size_t units, softxent_task task, void* context) {
  auto* p = static_cast<recording_pool*>(pool);
  ++p->calls;
  p->last_units = units;
  for (std::size_t u = units; u-- > 0;) task(context, u, u + 1);
}

// Cuts [0, units) into groups of random sizes and runs them, in shuffled order, on 4 std::threads.
void random_group_pool(void* pool, std::size_t units, softxent_task task, void* context) {
  auto* p = static_cast<recording_pool*>(pool);
  ++p->calls;
  p->last_units = units;
  std::mt19937_64 engine(p->seed++);
  std::vector<std::pair<std::size_t, std::size_t>> groups;
  for (std::size_t first = 0; first < units;) {
    std::size_t size = std::uniform_int_distribution<std::size_t>(1, std::max<std::size_t>(1, units / 3))(engine);
    std::size_t end = std::min(units, first + size);
    groups.emplace_back(first, end);
    first = end;
  }
  std::shuffle(groups.begin(), groups.end(), engine);
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w)
    workers.emplace_back([&] {
      for (std::size_t g; (g = next.fetch_add(1)) < groups.size();) task(context, groups[g].first, groups[g].second);
    });
  for (auto& worker : workers) worker.join();
}

// The ways a call can be run: OpenMP with 1, 2, 3, 8 threads, and the two host pools.
struct run_config {
  std::string name;
  softxent::exec_options exec;
};
std::vector<run_config> configs(const std::string& isa, recording_pool& reverse, recording_pool& random_groups) {
  std::vector<run_config> result;
  for (int threads : {1, 2, 3, 8}) result.push_back({"threads=" + std::to_string(threads), exec_for(isa, threads)});
  softxent::exec_options a = exec_for(isa, 1);
  a.parallel_for = reverse_pool;
  a.pool = &reverse;
  result.push_back({"reverse one-by-one pool", a});
  softxent::exec_options b = exec_for(isa, 0);
  b.parallel_for = random_group_pool;
  b.pool = &random_groups;
  result.push_back({"random groups on std::threads", b});
  return result;
}

// Every output of one operation on one input, gathered in one vector.
using operation = std::function<std::vector<float>(const softxent::exec_options&)>;

// Runs op under every configuration (twice under the first) and demands identical bits.
void expect_identical(const std::string& isa, const std::string& what, const operation& op) {
  recording_pool reverse, random_groups;
  std::vector<run_config> runs = configs(isa, reverse, random_groups);
  std::vector<float> first = op(runs[0].exec);
  CHECK_MESSAGE(bitwise_equal(first, op(runs[0].exec)), isa << " " << what << ": two identical runs differ");
  for (const run_config& run : runs) {
    std::vector<float> result = op(run.exec);
    CHECK_MESSAGE(bitwise_equal(first, result), isa << " " << what << ": " << run.name << " differs from threads=1");
  }
  // each call used its pool at most once
  CHECK(reverse.calls <= 1);
  CHECK(random_groups.calls <= 1);
}

struct shape {
  std::size_t rows, cols;
};
// Many short rows, medium rows, and rows of two chunks, for the quick suite.
std::vector<shape> short_shapes(const std::string&) { return {{1000, 10}, {67, 129}, {9, 4097}}; }
// Rows split into chunks across threads: a long row alone and, for the best instruction set only (to
// keep the suite fast), one of more than 2^20 (chunks longer than the base chunk). Under an emulator
// only the best instruction set takes long rows: the chunks and their merge order are the driver's,
// the same for every table, and the short-row cases still run every table across the threads.
std::vector<shape> long_shapes(const std::string& isa) {
  const bool best = isa == available_isas().back();
  if (!best && emulated()) return {};
  std::vector<shape> result = {{5, 12000}, {1, 128256}, {2, 70000}};
  if (best) result.push_back({1, (std::size_t{1} << 20) + 77});
  return result;
}
using shape_list = std::vector<shape> (*)(const std::string&);

}  // namespace

namespace {
void check_logsumexp_identical(shape_list shapes, std::uint64_t seed) {
  random_source random(seed);
  for (const std::string& isa : available_isas())
    for (shape s : shapes(isa)) {
      buffer x(s.rows, s.cols);
      fill_mixed_logits(x, random);
      expect_identical(isa, "logsumexp " + std::to_string(s.rows) + "x" + std::to_string(s.cols),
                       [&](const softxent::exec_options& exec) {
                         std::vector<float> lse(s.rows);
                         REQUIRE(softxent::logsumexp(x.cview(), lse.data(), exec) == softxent::status::ok);
                         return lse;
                       });
    }
}
}  // namespace

TEST_CASE("logsumexp is bitwise identical across thread counts and host pools - short rows") {
  check_logsumexp_identical(short_shapes, 401);
}

TEST_SUITE("slow") {
  TEST_CASE("logsumexp is bitwise identical across thread counts and host pools - long rows split across threads") {
    check_logsumexp_identical(long_shapes, 401);
  }
}

namespace {
void check_softmax_identical(shape_list shapes, std::uint64_t seed) {
  random_source random(seed);
  for (const std::string& isa : available_isas())
    for (shape s : shapes(isa)) {
      buffer x(s.rows, s.cols);
      fill_mixed_logits(x, random);
      for (bool log : {false, true})
        expect_identical(isa, std::string(log ? "log_softmax " : "softmax ") + std::to_string(s.rows) + "x" +
                                  std::to_string(s.cols),
                         [&](const softxent::exec_options& exec) {
                           buffer y(s.rows, s.cols);
                           auto status = log ? softxent::log_softmax(x.cview(), y.view(), exec)
                                             : softxent::softmax(x.cview(), y.view(), exec);
                           REQUIRE(status == softxent::status::ok);
                           return y.storage;
                         });
    }
}
}  // namespace

TEST_CASE("softmax and log_softmax are bitwise identical across thread counts and host pools - short rows") {
  check_softmax_identical(short_shapes, 402);
}

TEST_SUITE("slow") {
  TEST_CASE("softmax and log_softmax are bitwise identical across thread counts and host pools - long rows split across threads") {
    check_softmax_identical(long_shapes, 402);
  }
}

namespace {
void check_backward_identical(shape_list shapes, std::uint64_t seed) {
  random_source random(seed);
  for (const std::string& isa : available_isas())
    for (shape s : shapes(isa)) {
      buffer x(s.rows, s.cols);
      fill_logits(x, random);
      buffer dy(s.rows, s.cols);
      fill_logits(dy, random);
      for (bool log : {false, true}) {
        buffer y(s.rows, s.cols);
        fill_softmax_of(y, x, log);
        expect_identical(isa, std::string(log ? "log_softmax_backward " : "softmax_backward ") +
                                  std::to_string(s.rows) + "x" + std::to_string(s.cols),
                         [&](const softxent::exec_options& exec) {
                           buffer dx(s.rows, s.cols);
                           auto status = log ? softxent::log_softmax_backward(y.cview(), dy.cview(), dx.view(), exec)
                                             : softxent::softmax_backward(y.cview(), dy.cview(), dx.view(), exec);
                           REQUIRE(status == softxent::status::ok);
                           return dx.storage;
                         });
      }
    }
}
}  // namespace

TEST_CASE("softmax_backward and log_softmax_backward are bitwise identical across thread counts and host pools - short rows") {
  check_backward_identical(short_shapes, 403);
}

TEST_SUITE("slow") {
  TEST_CASE("softmax_backward and log_softmax_backward are bitwise identical across thread counts and host pools - long rows split across threads") {
    check_backward_identical(long_shapes, 403);
  }
}

namespace {
void check_cross_entropy_identical(shape_list shapes, std::uint64_t seed) {
  random_source random(seed);
  for (const std::string& isa : available_isas())
    for (shape s : shapes(isa)) {
      buffer x(s.rows, s.cols);
      fill_mixed_logits(x, random);
      std::vector<std::int64_t> targets = random_targets(s.rows, s.cols, random, 0.1);
      std::vector<float> weights(s.cols);
      for (float& w : weights) w = random.uniform(0.5f, 1.5f);
      for (softxent::reduction reduction : all_reductions)
        for (bool with_grad : {false, true}) {
          softxent::cross_entropy_options o;
          o.reduction = reduction;
          o.label_smoothing = 0.1f;
          o.z_loss = 1e-4f;
          o.class_weights = weights.data();
          expect_identical(isa, std::string("cross_entropy ") + reduction_name(reduction) + (with_grad ? "+grad " : " ") +
                                    std::to_string(s.rows) + "x" + std::to_string(s.cols),
                           [&](const softxent::exec_options& exec) {
                             std::vector<float> out(loss_count(reduction, s.rows));
                             buffer grad = with_grad ? buffer(s.rows, s.cols) : buffer();
                             REQUIRE(softxent::cross_entropy(x.cview(), targets.data(), out.data(),
                                                             with_grad ? grad.view() : softxent::matrix(), o, exec) ==
                                     softxent::status::ok);
                             out.insert(out.end(), grad.storage.begin(), grad.storage.end());
                             return out;
                           });
        }
    }
}
}  // namespace

TEST_CASE("cross_entropy losses (reduced too) and gradients are bitwise identical across thread counts and host pools - short rows") {
  check_cross_entropy_identical(short_shapes, 404);
}

TEST_SUITE("slow") {
  TEST_CASE("cross_entropy losses (reduced too) and gradients are bitwise identical across thread counts and host pools - long rows split across threads") {
    check_cross_entropy_identical(long_shapes, 404);
  }
}

namespace {
void check_cross_entropy_soft_identical(shape_list shapes, std::uint64_t seed) {
  random_source random(seed);
  for (const std::string& isa : available_isas())
    for (shape s : shapes(isa)) {
      buffer x(s.rows, s.cols);
      fill_mixed_logits(x, random);
      buffer probs(s.rows, s.cols);
      fill_distribution(probs, random);
      for (softxent::reduction reduction : all_reductions) {
        softxent::cross_entropy_options o;
        o.reduction = reduction;
        o.label_smoothing = 0.05f;
        expect_identical(isa, std::string("cross_entropy_soft ") + reduction_name(reduction) + " " +
                                  std::to_string(s.rows) + "x" + std::to_string(s.cols),
                         [&](const softxent::exec_options& exec) {
                           std::vector<float> out(loss_count(reduction, s.rows));
                           buffer grad(s.rows, s.cols);
                           REQUIRE(softxent::cross_entropy_soft(x.cview(), probs.cview(), out.data(), grad.view(), o,
                                                                exec) == softxent::status::ok);
                           out.insert(out.end(), grad.storage.begin(), grad.storage.end());
                           return out;
                         });
      }
    }
}
}  // namespace

TEST_CASE("cross_entropy_soft losses (reduced too) and gradients are bitwise identical across thread counts and host pools - short rows") {
  check_cross_entropy_soft_identical(short_shapes, 405);
}

TEST_SUITE("slow") {
  TEST_CASE("cross_entropy_soft losses (reduced too) and gradients are bitwise identical across thread counts and host pools - long rows split across threads") {
    check_cross_entropy_soft_identical(long_shapes, 405);
  }
}

TEST_CASE("a host pool is called at most once per call - and is used for a large call (except by the reference)") {
  random_source random(406);
  buffer x(2048, 500);
  fill_logits(x, random);
  for (const std::string& isa : available_isas()) {
    recording_pool pool;
    softxent::exec_options exec = exec_for(isa, 0);
    exec.parallel_for = reverse_pool;
    exec.pool = &pool;
    buffer y(x.rows, x.cols);
    REQUIRE(softxent::softmax(x.cview(), y.view(), exec) == softxent::status::ok);
    CAPTURE(isa);
    CHECK(pool.calls <= 1);
    if (isa != "reference") {  // the reference runs on the calling thread by design
      CHECK(pool.calls == 1);
      CHECK(pool.last_units >= 1);
    }
    // and the result is right, whatever the pool did
    tally t(describe(isa, "softmax through a host pool", x.rows, x.cols, x.cols, 0));
    expect_softmax(t, x, y);
    SXTEST_CHECK_TALLY(t);
    // a small call may skip the pool, but never calls it twice
    recording_pool small_pool;
    exec.pool = &small_pool;
    float lse = 0;
    REQUIRE(softxent::logsumexp({x.data(), 1, 10}, &lse, exec) == softxent::status::ok);
    CHECK(small_pool.calls <= 1);
  }
}
