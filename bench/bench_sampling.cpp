// Top-k and sampling (softxent_top_k, softxent_sample) against softxent's own logsumexp of the same rows,
// on the cases of sampling_cases.hpp: every operation x logits kind x shape x regime x thread count.
// scripts/bench_report.py divides each time by logsumexp's of the same logits, shape, regime and thread
// count, and by PyTorch's composites (bench_pytorch_sampling.cpp). Each sampling call draws anew: the
// counter (offset) advances with every call, as a decoding step's does.
#include <cstdint>
#include <vector>

#include "bench_support.hpp"
#include "sampling_cases.hpp"

namespace softxent_bench {

void register_sampling_benchmarks() {
  for (const std::string& isa : config().isas) {
    if (isa == "reference") continue;  // no target depends on it, and its draws are slow
    for (logits_kind kind : logits_kinds)
      for (const sampling_case& c : sampling_cases()) {
        const operation_traits* op = &sampling_traits(c, kind);
        const auto body = [op, c, kind, isa](benchmark::State& state, const shape& s, regime r, int threads) {
          softxent::exec_options exec;
          if (!softxent_exec(state, isa, threads, &exec)) return;
          const sampling_logits logits(kind, s, r);
          std::vector<float> log_probs(s.rows * max_sampling_k);
          std::vector<std::int64_t> indices(s.rows * max_sampling_k);
          const std::vector<std::uint64_t> seeds = sampling_seeds(s.rows);
          softxent::sampling_options options = c.options;
          const auto call = [&](std::size_t set) {
            const softxent::const_matrix x(logits.matrix(set), s.rows, s.cols);
            if (c.is_logsumexp) return softxent::logsumexp(x, log_probs.data(), exec);
            if (c.k > 0) return softxent::top_k(x, c.k, indices.data(), log_probs.data(), nullptr, {}, exec);
            ++options.offset;  // a new draw every call
            return softxent::sample(x, seeds.data(), indices.data(), log_probs.data(), options, {}, exec);
          };
          if (!first_call_ok(state, call(0))) return;
          time_rotating(state, *op, s, logits.count(), [&](std::size_t set) { call(set); });
        };
        register_cases(*op, "softxent-" + isa, body, config().min_time, {sampling_shapes(), {}, 0});
      }
  }
}

}  // namespace softxent_bench
