// PyTorch's composites of the top-k and sampling cases (sampling_cases.hpp), on the same logits as
// softxent's side, with the outputs softxent's calls give (indices or tokens, and their log-probs):
//   logsumexp   at::logsumexp_out
//   top_k_<k>   torch.topk(torch.log_softmax(x, -1), k): _log_softmax_out, topk_out
//   greedy      Hugging Face's greedy step, argmax (max_out gives it with its logit), and the token's
//               log-prob: logsumexp_out, sub_out
//   top_p, top_k_40, min_p, plain: Hugging Face's warper chain (transformers' TemperatureLogitsWarper,
//               TopKLogitsWarper, TopPLogitsWarper, MinPLogitsWarper, then softmax and torch.multinomial),
//               each warper as transformers writes it:
//     temperature  z = x / T (T != 1; else a copy of x, which the masks below overwrite)
//     top_k        z[z < topk(z, k).values[:, -1]] = -inf
//     top_p        sort ascending, softmax, cumsum, mask cumsum <= 1 - top_p (never the last), scatter
//                  the mask back to class order, masked_fill -inf
//     min_p        softmax, max, mask p < min_p * max p; argsort descending, gather, keep the first,
//                  scatter back (transformers' min_tokens_to_keep), masked_fill -inf
//     draw         softmax, multinomial (one sample, ATen's CPU generator)
//   and the token's log-prob before the filters: logsumexp of z before masking, gather, sub.
// Scratch tensors are allocated once per benchmark and every call writes into them (the *_out forms,
// in place where transformers allocates), which is kinder to PyTorch than Python is. Each result is
// checked against softxent's reference before it is timed (sampling_result_matches).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "bench_pytorch.hpp"
#include "sampling_cases.hpp"

namespace softxent_bench {
namespace {

class sampling_composite {
 public:
  sampling_composite(const sampling_case& c, const shape& s, const sampling_logits& logits)
      : case_(c), shape_(s), generator_(at::detail::createCPUGenerator(1234)) {
    const auto rows = static_cast<std::int64_t>(s.rows), cols = static_cast<std::int64_t>(s.cols);
    const auto floats = at::TensorOptions().dtype(at::kFloat);
    for (std::size_t set = 0; set < logits.count(); ++set) x_.push_back(matrix_tensor(logits.matrix(set), s));
    const std::int64_t k = c.k > 0 ? static_cast<std::int64_t>(c.k) : 1;
    values_ = at::empty({rows, k}, floats);
    indices_ = at::empty({rows, k}, at::TensorOptions().dtype(at::kLong));
    lse_ = at::empty({rows}, floats);
    if (c.k > 0 || c.samples()) z_ = at::empty({rows, cols}, floats);
    if (!c.samples()) return;
    probs_ = at::empty({rows, cols}, floats);
    remove_ = at::empty({rows, cols}, at::TensorOptions().dtype(at::kBool));
    if (c.options.temperature != 1.0f) temperature_ = number_tensor(static_cast<double>(c.options.temperature));
    if (c.options.top_k > 0) {
      threshold_values_ = at::empty({rows, static_cast<std::int64_t>(c.options.top_k)}, floats);
      threshold_indices_ = at::empty({rows, static_cast<std::int64_t>(c.options.top_k)}, indices_.options());
    }
    if (c.options.top_p < 1.0f || c.options.min_p > 0.0f) {
      sorted_ = at::empty({rows, cols}, floats);
      order_ = at::empty({rows, cols}, at::TensorOptions().dtype(at::kLong));
      sorted_remove_ = at::empty({rows, cols}, at::TensorOptions().dtype(at::kBool));
      sorted_probs_ = at::empty({rows, cols}, floats);
    }
  }

  // The timed call on logits set `set`: indices and log-probs (rows x k; rows x 1 for a token) in
  // indices_ and values_, lse in lse_ for logsumexp.
  void run(std::size_t set) {
    const at::Tensor& x = x_[set];
    if (case_.is_logsumexp) {
      at::logsumexp_out(lse_, x, {1}, false);
    } else if (case_.k > 0) {
      at::_log_softmax_out(z_, x, 1, false);
      at::topk_out(values_, indices_, z_, static_cast<std::int64_t>(case_.k), 1, true, true);
    } else if (case_.options.temperature == 0.0f) {
      at::max_out(values_, indices_, x, 1, true);
      at::logsumexp_out(lse_, x, {1}, false);
      values_.sub_(lse_.unsqueeze(1));
    } else {
      draw(x);
    }
  }

  // The outputs where sampling_result_matches reads them.
  bool matches(std::size_t set, std::string* message) {
    run(set);
    const at::Tensor indices = indices_.contiguous();
    const at::Tensor log_probs = case_.is_logsumexp ? lse_.contiguous() : values_.contiguous();
    return sampling_result_matches(case_, shape_, x_[set].data_ptr<float>(), indices.data_ptr<std::int64_t>(),
                                   log_probs.data_ptr<float>(), message);
  }

 private:
  void draw(const at::Tensor& x) {
    const softxent::sampling_options& o = case_.options;
    const std::int64_t cols = static_cast<std::int64_t>(shape_.cols);
    const double minus_infinity = -std::numeric_limits<double>::infinity();
    if (o.temperature != 1.0f) {
      at::div_out(z_, x, temperature_);
    } else {
      z_.copy_(x);
    }
    at::logsumexp_out(lse_, z_, {1}, false);  // the token's log-prob is taken before the filters
    if (o.top_k > 0 && o.top_k < shape_.cols) {
      at::topk_out(threshold_values_, threshold_indices_, z_, static_cast<std::int64_t>(o.top_k), 1, true, true);
      at::lt_out(remove_, z_, threshold_values_.narrow(1, static_cast<std::int64_t>(o.top_k) - 1, 1));
      z_.masked_fill_(remove_, minus_infinity);
    }
    if (o.top_p < 1.0f) {
      at::sort_out(sorted_, order_, z_, 1, false);
      at::_softmax_out(sorted_probs_, sorted_, 1, false);
      at::cumsum_out(sorted_, sorted_probs_, 1);  // the sorted logits are no longer needed
      at::le_out(sorted_remove_, sorted_, 1.0 - static_cast<double>(o.top_p));
      sorted_remove_.narrow(1, cols - 1, 1).fill_(false);
      at::scatter_out(remove_, sorted_remove_, 1, order_, sorted_remove_);
      z_.masked_fill_(remove_, minus_infinity);
    }
    if (o.min_p > 0.0f) {
      at::_softmax_out(probs_, z_, 1, false);
      at::max_out(values_, indices_, probs_, 1, true);
      at::lt_out(remove_, probs_, values_ * static_cast<double>(o.min_p));
      at::sort_out(sorted_, order_, z_, 1, true);  // transformers' argsort, descending
      at::gather_out(sorted_remove_, remove_, 1, order_);
      sorted_remove_.narrow(1, 0, 1).fill_(false);
      at::scatter_out(remove_, sorted_remove_, 1, order_, sorted_remove_);
      z_.masked_fill_(remove_, minus_infinity);
    }
    at::_softmax_out(probs_, z_, 1, false);
    at::multinomial_out(indices_, probs_, 1, false, generator_);
    at::gather_out(values_, z_, 1, indices_);
    values_.sub_(lse_.unsqueeze(1));
  }

  sampling_case case_;
  shape shape_;
  at::Generator generator_;
  std::vector<at::Tensor> x_;
  at::Tensor values_, indices_, lse_, z_, probs_, remove_, temperature_, threshold_values_, threshold_indices_, sorted_,
      order_, sorted_remove_, sorted_probs_;
};

}  // namespace

void register_pytorch_sampling_benchmarks() {
  const std::string implementation = pytorch_implementation_name();
  for (logits_kind kind : logits_kinds)
    for (const sampling_case& c : sampling_cases()) {
      const operation_traits* op = &sampling_traits(c, kind);
      // A sort of 64 x 128256 floats takes more than a second: three repetitions are enough.
      register_pytorch_cases(*op, implementation, [op, c, kind, implementation](benchmark::State& state,
                                                                               const shape& s, regime r, int) {
        const sampling_logits logits(kind, s, r);
        sampling_composite composite(c, s, logits);
        const bool passed = passes_check(state, implementation + "/" + op->name + "/" + s.name(), [&] {
          std::string message;
          if (!composite.matches(0, &message)) message = implementation + " " + message;
          return message;
        });
        if (!passed) return;
        composite.run(0);  // untimed, as softxent's first call: PyTorch's scratch tensors are touched
        time_rotating(state, *op, s, logits.count(), [&](std::size_t set) { composite.run(set); });
      }, {sampling_shapes(), {}, 3});
    }
}

}  // namespace softxent_bench
