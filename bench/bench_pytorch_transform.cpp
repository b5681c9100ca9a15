// PyTorch's composites of the logit-transform cases (transform_cases.hpp): what a PyTorch user writes
// before F.softmax, each step an ATen call on preallocated tensors (the *_out forms, or in place):
//   plain                 _softmax_out
//   decode                mul_out (scale) into the first cols columns of a rows x (cols + 1) scratch, add_
//                         the ALiBi bias (slopes x distances, computed once per benchmark, as a model
//                         keeps it), the sinks into the last column (gpt-oss's torch.cat), _softmax_out
//                         over cols + 1; the probabilities are that scratch's first cols columns (a view,
//                         no copy). The causal bound masks nothing for the last query: no mask is added.
//   prefill               mul_out (scale), add_ a 512 x 512 causal mask of 0 and -inf broadcast over the
//                         heads (as scaled_dot_product_attention's math path adds attn_mask), _softmax_out
//   temperature_mask      mul_out (1 / temperature), add_ the mask, _softmax_out
//   temperature_mask_row  the same, adding the broadcast row
//   temperature_softcap   mul_out (1 / (temperature softcap)), tanh_, mul_ (softcap), _softmax_out
// Numbers multiply as 0-dim tensors, as Python passes them (see number_tensor). Each result is checked
// against softxent's reference with the same options before it is timed.
#include <ATen/ATen.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "bench_pytorch.hpp"
#include "transform_cases.hpp"

namespace softxent_bench {
namespace {

class transform_composite {
 public:
  transform_composite(const transform_case& c, const shape& s, const buffer_sets& sets, const transform_data& data)
      : kind_(c.kind), data_(data), scale_(number_tensor(data.scale)),
        softcap_(number_tensor(data.softcap)),
        scale_over_softcap_(number_tensor(data.softcap > 0.0f ? data.scale / data.softcap : 0.0f)) {
    const auto rows = static_cast<std::int64_t>(s.rows), cols = static_cast<std::int64_t>(s.cols);
    const auto floats = at::TensorOptions().dtype(at::kFloat);
    for (std::size_t set = 0; set < sets.count(); ++set) {
      x_.push_back(matrix_tensor(sets.input(set, 0), s));
      out_.push_back(matrix_tensor(sets.output(set), s));
      if (c.traits.matrices_read > 1) mask_.push_back(matrix_tensor(sets.input(set, 1), s));
    }
    switch (kind_) {
      case transform_kind::plain:
        break;
      case transform_kind::decode: {
        scores_ = at::empty({rows, cols + 1}, floats);
        weights_ = at::empty({rows, cols + 1}, floats);
        const at::Tensor slopes = at::from_blob(const_cast<float*>(data.slopes.data()), {rows, 1}, floats);
        const at::Tensor distances = at::from_blob(const_cast<float*>(data.mask_row.data()), {1, cols}, floats);
        bias_ = slopes * distances;
        sinks_ = at::from_blob(const_cast<float*>(data.sinks.data()), {rows, 1}, floats).clone();
        break;
      }
      case transform_kind::prefill: {
        scores_ = at::empty({rows, cols}, floats);
        const auto queries = static_cast<std::int64_t>(data.prefill_queries);
        bias_ = at::full({queries, queries}, -std::numeric_limits<double>::infinity(), floats).triu_(1);
        break;
      }
      case transform_kind::temperature_mask_row:
        bias_ = at::from_blob(const_cast<float*>(data.mask_row.data()), {1, cols}, floats).clone();
        [[fallthrough]];
      case transform_kind::temperature_mask:
      case transform_kind::temperature_softcap:
        scores_ = at::empty({rows, cols}, floats);
        break;
    }
  }

  // The timed call on buffer set `set`.
  void run(std::size_t set) {
    const at::Tensor& x = x_[set];
    switch (kind_) {
      case transform_kind::plain:
        at::_softmax_out(out_[set], x, 1, false);
        break;
      case transform_kind::decode: {
        const std::int64_t cols = x.size(1);
        at::Tensor keys = scores_.narrow(1, 0, cols);
        at::mul_out(keys, x, scale_);
        keys.add_(bias_);
        scores_.narrow(1, cols, 1).copy_(sinks_);
        at::_softmax_out(weights_, scores_, 1, false);
        break;
      }
      case transform_kind::prefill:
        at::mul_out(scores_, x, scale_);
        scores_.view({-1, bias_.size(0), bias_.size(1)}).add_(bias_);
        at::_softmax_out(out_[set], scores_, 1, false);
        break;
      case transform_kind::temperature_mask:
      case transform_kind::temperature_mask_row:
        at::mul_out(scores_, x, scale_);
        scores_.add_(kind_ == transform_kind::temperature_mask ? mask_[set] : bias_);
        at::_softmax_out(out_[set], scores_, 1, false);
        break;
      case transform_kind::temperature_softcap:
        at::mul_out(scores_, x, scale_over_softcap_);
        scores_.tanh_();
        scores_.mul_(softcap_);
        at::_softmax_out(out_[set], scores_, 1, false);
        break;
    }
  }

  // The timed call, then the probabilities in the set's output where the reference check reads them.
  void run_for_check(std::size_t set) {
    run(set);
    if (kind_ == transform_kind::decode) out_[set].copy_(weights_.narrow(1, 0, x_[set].size(1)));
  }

 private:
  transform_kind kind_;
  const transform_data& data_;
  at::Tensor scale_, softcap_, scale_over_softcap_;
  std::vector<at::Tensor> x_, out_, mask_;
  at::Tensor scores_, weights_, bias_, sinks_;
};

}  // namespace

void register_pytorch_transform_benchmarks() {
  const std::string implementation = pytorch_implementation_name();
  for (const transform_case& each : transform_cases()) {
    const transform_case* c = &each;
    register_pytorch_cases(c->traits, implementation, [c, implementation](benchmark::State& state, const shape& s,
                                                                          regime r, int) {
      const transform_data data(*c, s);
      const buffer_sets sets(c->traits, s, r);
      transform_composite composite(*c, s, sets, data);
      const softxent::softmax_options transform = data.options(sets, 0);
      check_and_time(state, implementation.c_str(), c->traits, s, sets,
                     [&](std::size_t set) { composite.run_for_check(set); },
                     [&](std::size_t set) { composite.run(set); }, &transform);
      state.counters["mask_bytes"] = static_cast<double>(data.mask_bytes());
    }, {c->shapes, {}, 0});
  }
}

}  // namespace softxent_bench
