// No call allocates on the heap (SPEC.md): operator new is replaced for this test program and counts
// the allocations made while a library call runs, on any thread (OpenMP workers included).
#include "test_support.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<bool> counting{false};
std::atomic<std::size_t> allocations{0};

void* counted_allocation(std::size_t size) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t size) { return counted_allocation(size); }
void* operator new[](std::size_t size) { return counted_allocation(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace sxtest;

namespace {
// Runs call (which returns a status) with the counter armed; checks the status and the count outside.
template <class Call>
void expect_no_allocation(const char* what, const Call& call) {
  allocations = 0;
  counting = true;
  softxent::status result = call();
  counting = false;
  CHECK_MESSAGE(result == softxent::status::ok, what);
  CHECK_MESSAGE(allocations.load() == 0, what << " allocated " << allocations.load() << " times");
}
}  // namespace

TEST_CASE("no operation allocates with operator new on any instruction set for short or long rows") {
  random_source random(501);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sizes{10, 1000, 100000}) {
      const std::size_t rows = 8;
      buffer x(rows, cols), y(rows, cols), dy(rows, cols), grad(rows, cols), probs(rows, cols);
      fill_logits(x, random);
      fill_softmax_of(y, x, false);
      fill_logits(dy, random);
      fill_distribution(probs, random);
      std::vector<std::int64_t> targets = random_targets(rows, cols, random, 0.2);
      std::vector<float> lse(rows), loss(rows);
      softxent::cross_entropy_options o;
      o.label_smoothing = 0.1f;
      o.z_loss = 1e-4f;
      auto exec = exec_for(isa, 2);
      CAPTURE(isa);
      CAPTURE(cols);
      // warm up once: the one-time CPU detection and OpenMP's thread start are not per-call costs
      REQUIRE(softxent::softmax(x.cview(), grad.view(), exec) == softxent::status::ok);
      expect_no_allocation("logsumexp", [&] { return softxent::logsumexp(x.cview(), lse.data(), exec); });
      expect_no_allocation("softmax", [&] { return softxent::softmax(x.cview(), grad.view(), exec); });
      expect_no_allocation("log_softmax", [&] { return softxent::log_softmax(x.cview(), grad.view(), exec); });
      expect_no_allocation("softmax_backward",
                           [&] { return softxent::softmax_backward(y.cview(), dy.cview(), grad.view(), exec); });
      expect_no_allocation("log_softmax_backward",
                           [&] { return softxent::log_softmax_backward(y.cview(), dy.cview(), grad.view(), exec); });
      for (softxent::reduction reduction : all_reductions) {
        o.reduction = reduction;
        expect_no_allocation("cross_entropy", [&] {
          return softxent::cross_entropy(x.cview(), targets.data(), loss.data(), grad.view(), o, exec);
        });
        expect_no_allocation("cross_entropy_soft", [&] {
          return softxent::cross_entropy_soft(x.cview(), probs.cview(), loss.data(), grad.view(), o, exec);
        });
      }
    }
}

TEST_CASE("the fused linear cross-entropy allocates nothing with operator new, whole rows and class blocks") {
  random_source random(502);
  for (const std::string& isa : available_isas())
    for (std::size_t classes : sizes{300, 20000}) {
      const std::size_t rows = 40, hidden = 24;
      buffer inputs(rows, hidden), weight(classes, hidden), grad_inputs(rows, hidden), grad_weight(classes, hidden);
      fill_uniform(inputs, random, -1.0f, 1.0f);
      fill_uniform(weight, random, -1.0f, 1.0f);
      grad_weight.fill_matrix(0.0f);
      std::vector<float> bias(classes, 0.5f), grad_bias(classes, 0.0f), loss(1);
      const std::vector<std::int64_t> targets = random_targets(rows, classes, random, 0.2);
      std::vector<unsigned char> work(softxent::linear_cross_entropy_workspace_size(rows, hidden, classes));
      if (work.empty()) return;  // a build without a BLAS
      softxent::cross_entropy_options o;
      o.label_smoothing = 0.1f;
      auto exec = exec_for(isa, 2);
      CAPTURE(isa);
      CAPTURE(classes);
      const auto call = [&] {
        return softxent::linear_cross_entropy({inputs.cview(), weight.cview(), bias.data()}, targets.data(), loss.data(),
                                              {grad_inputs.view(), grad_weight.view(), grad_bias.data()},
                                              {work.data(), work.size()}, o, exec);
      };
      REQUIRE(call() == softxent::status::ok);  // warm up: the BLAS's own packing buffers, OpenMP's threads
      expect_no_allocation("linear_cross_entropy", call);
    }
}

TEST_CASE("top_k and sample do not allocate - for one long row (segments across threads) or many") {
  random_source random(502);
  for (const std::string& isa : available_isas())
    for (std::size_t rows : sizes{1, 8})
      for (std::size_t cols : sizes{1000, 100000}) {
        buffer x(rows, cols);
        fill_logits(x, random);
        std::vector<std::int64_t> indices(rows * 64), tokens(rows);
        std::vector<float> log_probs(rows * 64), lse(rows);
        std::vector<std::uint64_t> seeds(rows, 5);
        softxent::sampling_options top_p, top_k, min_p;
        top_p.temperature = 0.8f, top_p.top_p = 0.9f;
        top_k.top_k = 40;
        min_p.min_p = 0.05f;
        auto exec = exec_for(isa, 2);
        CAPTURE(isa);
        CAPTURE(rows);
        CAPTURE(cols);
        expect_no_allocation("top_k", [&] {
          return softxent::top_k(x.cview(), 64, indices.data(), log_probs.data(), lse.data(), {}, exec);
        });
        for (const softxent::sampling_options& o : {softxent::sampling_options{}, top_p, top_k, min_p})
          expect_no_allocation("sample", [&] {
            return softxent::sample(x.cview(), seeds.data(), tokens.data(), log_probs.data(), o, {}, exec);
          });
      }
}
