// softxent_bench_pytorch: PyTorch's CPU kernels (Debian's libtorch-dev 1.13.1, ATen's C++ API) on the same
// operations, shapes, regimes and thread counts as softxent_bench, in a process of its own, so that it can
// run at ATen's default dispatch level and again with ATEN_CPU_CAPABILITY=avx512 set before it starts
// (ATen reads the variable once). Its implementation is named "pytorch", or "pytorch-<capability>" when
// the variable is set; a second composite of the same operation adds "~<composite>" to the name, and the
// report takes the faster of the two for PyTorch. scripts/bench.sh runs the binary both ways.
//
// Every call writes into preallocated outputs (the *_out forms), on tensors that wrap the buffer sets,
// with at::set_num_threads(threads); scratch tensors are allocated once per benchmark and reused, which
// is kinder to PyTorch than autograd (it allocates them on every call). What each operation runs:
//   logsumexp             at::logsumexp_out over dim 1
//   softmax, log_softmax  at::_softmax_out, at::_log_softmax_out (the kernels behind F.softmax / F.log_softmax)
//   *_backward            at::_softmax_backward_data_out, at::_log_softmax_backward_data_out
//   cross_entropy_loss    what F.cross_entropy runs forward: _log_softmax_out, then nll_loss_forward_out (mean)
//   cross_entropy_grad    two composites, both timed: what autograd runs for F.cross_entropy(x, t).backward():
//                         the forward above, nll_loss_backward_out (a zero-filled gradient with -1/rows at
//                         each target), _log_softmax_backward_data_out; and "~fused", a hand composite with
//                         less traffic: _softmax_out into the gradient, the loss from the targets'
//                         probabilities (gather, log, mean), then grad *= 1/rows and -1/rows at the targets
//   cross_entropy_soft    what autograd runs for probability targets: _log_softmax_out, mul, sum (mean), and
//                         backward -probs/rows through _log_softmax_backward_data_out
//   *_bf16, *_f16         the same calls on bf16 or f16 tensors, scratch tensors of that type too (as autograd
//                         has them); ATen 1.13 has no f16 softmax on CPU ("not implemented for 'Half'"): skipped
// Each result is checked against softxent's reference before it is timed. The top-k, sampling and
// transform composites are in bench_pytorch_sampling.cpp and bench_pytorch_transform.cpp.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/Reduction.h>

#include <cctype>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "bench_pytorch.hpp"

namespace softxent_bench {

std::string pytorch_implementation_name() {
  const char* capability = std::getenv("ATEN_CPU_CAPABILITY");
  if (capability == nullptr || *capability == '\0') return "pytorch";
  std::string name = std::string("pytorch-") + capability;
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

at::Tensor matrix_tensor(const void* data, const shape& s, at::ScalarType type) {
  return at::from_blob(const_cast<void*>(data), {static_cast<std::int64_t>(s.rows), static_cast<std::int64_t>(s.cols)},
                       at::TensorOptions().dtype(type));
}
at::Tensor row_tensor(const void* data, const shape& s, at::ScalarType type) {
  return at::from_blob(const_cast<void*>(data), {static_cast<std::int64_t>(s.rows)}, at::TensorOptions().dtype(type));
}

at::Tensor number_tensor(double value, at::ScalarType type) {
  return at::scalar_tensor(value, at::TensorOptions().dtype(type));
}

void register_pytorch_cases(const operation_traits& op, const std::string& implementation, case_body body,
                            const case_set& cases) {
  register_cases(op, implementation, [body, implementation](benchmark::State& state, const shape& s, regime r,
                                                            int threads) {
    if (at::get_num_threads() != threads) at::set_num_threads(threads);  // costs milliseconds, even unchanged
    try {
      body(state, s, r, threads);
    } catch (const std::exception& e) {
      const std::string what = e.what();
      state.SkipWithError(("PyTorch: " + what.substr(0, what.find('\n'))).c_str());  // without the backtrace
    }
  }, config().min_time, cases);
}

namespace {

// The tensors of one buffer set.
struct set_tensors {
  at::Tensor x, second, out, rows, targets, targets_column;
};

// What a benchmark allocates once and reuses on every call.
struct scratch_tensors {
  at::Tensor log_probs, grad_log_probs, product, loss, total_weight, one, minus_scale, inverse_rows,
      minus_inverse_rows;
};

at::ScalarType scalar_type(softxent::dtype dtype) {
  switch (dtype) {
    case softxent::dtype::f16: return at::kHalf;
    case softxent::dtype::bf16: return at::kBFloat16;
    case softxent::dtype::f32: break;
  }
  return at::kFloat;
}

class pytorch_case {
 public:
  // fused: cross_entropy_grad's hand composite instead of autograd's. The operation runs on tensors of
  // its dtype (its scratch tensors too: as autograd would have them); per-row values are float.
  pytorch_case(const operation_traits& op, const shape& s, const buffer_sets& sets, bool fused)
      : name_(op.checked_as), type_(scalar_type(op.dtype)), fused_(fused) {
    for (std::size_t set = 0; set < sets.count(); ++set) {
      set_tensors t;
      t.x = matrix_tensor(sets.input_data(set, 0), s, type_);
      if (op.matrices_read > 1) t.second = matrix_tensor(sets.input_data(set, 1), s, type_);
      t.out = matrix_tensor(sets.output_data(set), s, type_);
      t.rows = row_tensor(sets.row_output(set), s);
      if (op.reads_targets) {
        t.targets = row_tensor(sets.targets(set), s, at::kLong);
        t.targets_column = t.targets.view({static_cast<std::int64_t>(s.rows), 1});
      }
      sets_.push_back(t);
    }
    const auto options = at::TensorOptions().dtype(type_);
    const std::int64_t rows = static_cast<std::int64_t>(s.rows), cols = static_cast<std::int64_t>(s.cols);
    if (name_.rfind("cross_entropy", 0) == 0) {
      scratch_.log_probs = at::empty({rows, cols}, options);
      scratch_.grad_log_probs = at::empty({rows, cols}, options);
      if (name_ == "cross_entropy_soft") scratch_.product = at::empty({rows, cols}, options);
      scratch_.loss = at::empty({}, options);
      scratch_.total_weight = at::empty({}, options);
      scratch_.one = at::ones({}, options);
      scratch_.minus_scale = at::full({rows, 1}, -1.0 / static_cast<double>(rows), options);
      scratch_.inverse_rows = number_tensor(1.0 / static_cast<double>(rows), type_);
      scratch_.minus_inverse_rows = number_tensor(-1.0 / static_cast<double>(rows), type_);
    }
  }

  // The timed call on buffer set `set`.
  void run(std::size_t set) {
    set_tensors& t = sets_[set];
    scratch_tensors& k = scratch_;
    if (name_ == "logsumexp") {
      at::logsumexp_out(t.rows, t.x, {1}, false);
    } else if (name_ == "softmax") {
      at::_softmax_out(t.out, t.x, 1, false);
    } else if (name_ == "log_softmax") {
      at::_log_softmax_out(t.out, t.x, 1, false);
    } else if (name_ == "softmax_backward") {
      at::_softmax_backward_data_out(t.out, t.second, t.x, 1, type_);
    } else if (name_ == "log_softmax_backward") {
      at::_log_softmax_backward_data_out(t.out, t.second, t.x, 1, type_);
    } else if (name_ == "cross_entropy_loss") {
      at::_log_softmax_out(k.log_probs, t.x, 1, false);
      at::nll_loss_forward_out(k.loss, k.total_weight, k.log_probs, t.targets, {}, at::Reduction::Mean, -100);
    } else if (name_ == "cross_entropy_grad" && !fused_) {
      at::_log_softmax_out(k.log_probs, t.x, 1, false);
      at::nll_loss_forward_out(k.loss, k.total_weight, k.log_probs, t.targets, {}, at::Reduction::Mean, -100);
      at::nll_loss_backward_out(k.grad_log_probs, k.one, k.log_probs, t.targets, {}, at::Reduction::Mean, -100,
                                k.total_weight);
      at::_log_softmax_backward_data_out(t.out, k.grad_log_probs, k.log_probs, 1, type_);
    } else if (name_ == "cross_entropy_grad") {
      at::_softmax_out(t.out, t.x, 1, false);
      at::Tensor target_probs = at::gather(t.out, 1, t.targets_column);
      at::mean_out(k.loss, target_probs.log_().neg_(), {0}, false);
      at::mul_out(t.out, t.out, k.inverse_rows);
      t.out.scatter_add_(1, t.targets_column, k.minus_scale);
    } else {  // cross_entropy_soft
      at::_log_softmax_out(k.log_probs, t.x, 1, false);
      at::mul_out(k.product, k.log_probs, t.second);
      at::sum_out(k.loss, k.product);
      k.loss.mul_(k.minus_inverse_rows);
      at::mul_out(k.grad_log_probs, t.second, k.minus_inverse_rows);
      at::_log_softmax_backward_data_out(t.out, k.grad_log_probs, k.log_probs, 1, type_);
    }
  }

  // The timed call, then each row's own loss in the row outputs, where the reference check looks.
  void run_for_check(std::size_t set) {
    run(set);
    set_tensors& t = sets_[set];
    scratch_tensors& k = scratch_;
    if (name_ == "cross_entropy_soft") {
      at::_log_softmax_out(k.log_probs, t.x, 1, false);
      at::mul_out(k.product, k.log_probs, t.second);
      t.rows.copy_(at::sum(k.product, {1}).neg_());
    } else if (name_.rfind("cross_entropy", 0) == 0) {
      at::_log_softmax_out(k.log_probs, t.x, 1, false);
      t.rows.copy_(std::get<0>(at::nll_loss_forward(k.log_probs, t.targets, {}, at::Reduction::None, -100)));
    }
  }

 private:
  std::string name_;  // the float operation it computes
  at::ScalarType type_;
  bool fused_;
  std::vector<set_tensors> sets_;
  scratch_tensors scratch_;
};

void register_pytorch(const operation_traits& op, bool fused = false) {
  const std::string implementation = pytorch_implementation_name() + (fused ? "~fused" : "");
  register_pytorch_cases(op, implementation, [op, fused, implementation](benchmark::State& state, const shape& s,
                                                                         regime r, int) {
    const buffer_sets sets(op, s, r);
    pytorch_case pc(op, s, sets, fused);
    check_and_time(state, implementation.c_str(), op, s, sets, [&](std::size_t set) { pc.run_for_check(set); },
                   [&](std::size_t set) { pc.run(set); });
  });
}

void register_all() {
  const char* capability = std::getenv("ATEN_CPU_CAPABILITY");
  benchmark::AddCustomContext("pytorch_version", SOFTXENT_BENCH_TORCH_VERSION);
  benchmark::AddCustomContext("pytorch_cpu_capability", capability != nullptr ? capability : "default");
  for (const operation_traits* op : {&logsumexp_traits, &softmax_traits, &log_softmax_traits, &softmax_backward_traits,
                                     &log_softmax_backward_traits, &cross_entropy_loss_traits,
                                     &cross_entropy_grad_traits, &cross_entropy_soft_traits, &softmax_bf16_traits,
                                     &softmax_f16_traits, &log_softmax_bf16_traits, &log_softmax_f16_traits,
                                     &cross_entropy_grad_bf16_traits})
    register_pytorch(*op);
  register_pytorch(cross_entropy_grad_traits, true);
  register_pytorch(cross_entropy_grad_bf16_traits, true);
  register_pytorch_sampling_benchmarks();
  register_pytorch_transform_benchmarks();
}

}  // namespace
}  // namespace softxent_bench

int main(int argc, char** argv) { return softxent_bench::run_benchmarks(argc, argv, softxent_bench::register_all); }
