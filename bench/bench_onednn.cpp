// oneDNN (Debian's libdnnl-dev 2.6, OpenMP runtime) on the same shapes and buffer sets: its softmax
// and logsoftmax primitives forward and backward, and cross-entropy as a user of oneDNN writes it:
// the softmax primitive, then one pass that takes each row's loss and turns the probabilities into
// the gradient of the mean loss in place (loss only: the logsoftmax primitive, then the targets'
// log-probabilities). In bf16 and f16 (16-bit source and destination): the softmax_v2 primitive
// (softmax_accurate, softmax_log) for inference. oneDNN 2.6 implements bf16 on AVX-512 CPUs
// (jit:avx512_core, with or without AVX512_BF16) but f16 only on CPUs with AVX512_FP16 (Sapphire Rapids
// and later): elsewhere the primitive descriptor fails and the case is skipped with that message.
// Every case is checked against softxent's reference before it is timed.
#include <omp.h>

#include <cmath>
#include <functional>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>

#include "bench_support.hpp"

namespace softxent_bench {
namespace {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// oneDNN's OpenMP runtime runs on omp_get_max_threads() threads; this sets it for one benchmark.
class openmp_threads {
 public:
  explicit openmp_threads(int threads) : saved_(omp_get_max_threads()) { omp_set_num_threads(threads); }
  ~openmp_threads() { omp_set_num_threads(saved_); }
  openmp_threads(const openmp_threads&) = delete;
  openmp_threads& operator=(const openmp_threads&) = delete;

 private:
  int saved_;
};

dnnl::memory::data_type data_type(softxent::dtype dtype) {
  switch (dtype) {
    case softxent::dtype::f16: return dnnl::memory::data_type::f16;
    case softxent::dtype::bf16: return dnnl::memory::data_type::bf16;
    case softxent::dtype::f32: break;
  }
  return dnnl::memory::data_type::f32;
}

dnnl::memory::desc matrix_desc(const shape& s, softxent::dtype dtype) {
  return {{static_cast<dnnl::memory::dim>(s.rows), static_cast<dnnl::memory::dim>(s.cols)}, data_type(dtype),
          dnnl::memory::format_tag::ab};
}

dnnl::memory wrap(const dnnl::memory::desc& desc, const void* data) {
  return dnnl::memory(desc, cpu_engine(), const_cast<void*>(data));
}

SOFTXENT_BENCH_BEST_ISA void scale_row(float* g, std::size_t n, float factor) {
  for (std::size_t j = 0; j < n; ++j) g[j] *= factor;
}

// The pass after the softmax primitive: row_loss[r] = -log p[r][t_r], then g = (p - onehot) / rows.
float cross_entropy_pass(const shape& s, const std::int64_t* targets, float* probs, float* row_loss, int threads) {
  const float scale = 1.0f / static_cast<float>(s.rows);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (std::size_t r = 0; r < s.rows; ++r) {
    float* g = probs + r * s.cols;
    const auto t = static_cast<std::size_t>(targets[r]);
    row_loss[r] = -std::log(g[t]);
    scale_row(g, s.cols, scale);
    g[t] -= scale;
  }
  double sum = 0.0;
  for (std::size_t r = 0; r < s.rows; ++r) sum += row_loss[r];
  return static_cast<float>(sum / static_cast<double>(s.rows));
}

// The pass after the logsoftmax primitive for the loss alone.
float cross_entropy_loss_pass(const shape& s, const std::int64_t* targets, const float* log_probs, float* row_loss) {
  double sum = 0.0;
  for (std::size_t r = 0; r < s.rows; ++r) {
    row_loss[r] = -log_probs[r * s.cols + static_cast<std::size_t>(targets[r])];
    sum += row_loss[r];
  }
  return static_cast<float>(sum / static_cast<double>(s.rows));
}

// One operation done with oneDNN: a primitive, its arguments for a buffer set, and the pass after it.
struct onednn_case {
  dnnl::primitive primitive;
  std::function<std::unordered_map<int, dnnl::memory>(std::size_t set)> arguments;
  std::function<void(std::size_t set)> finish;
};

template <class Forward>
typename Forward::primitive_desc forward_desc(const dnnl::memory::desc& desc) {
  return typename Forward::primitive_desc(
      typename Forward::desc(dnnl::prop_kind::forward_training, desc, 1), cpu_engine());
}

template <class Forward, class Backward>
onednn_case backward_case(const dnnl::memory::desc& desc, const buffer_sets& sets) {
  const typename Backward::primitive_desc backward(typename Backward::desc(desc, desc, 1), cpu_engine(),
                                                   forward_desc<Forward>(desc));
  return {Backward(backward),
          [desc, &sets](std::size_t set) {
            return std::unordered_map<int, dnnl::memory>{{DNNL_ARG_DST, wrap(desc, sets.input(set, 0))},
                                                         {DNNL_ARG_DIFF_DST, wrap(desc, sets.input(set, 1))},
                                                         {DNNL_ARG_DIFF_SRC, wrap(desc, sets.output(set))}};
          },
          nullptr};
}

// scratch: where the primitive writes when its output is not the operation's (null: sets.output).
template <class Forward>
onednn_case forward_case(const dnnl::memory::desc& desc, const buffer_sets& sets,
                         std::function<void(std::size_t)> finish, float* scratch = nullptr) {
  return {Forward(forward_desc<Forward>(desc)),
          [desc, &sets, scratch](std::size_t set) {
            float* output = scratch != nullptr ? scratch : sets.output(set);
            return std::unordered_map<int, dnnl::memory>{{DNNL_ARG_SRC, wrap(desc, sets.input(set, 0))},
                                                         {DNNL_ARG_DST, wrap(desc, output)}};
          },
          std::move(finish)};
}

// Softmax or log-softmax with 16-bit source and destination: the softmax_v2 primitive.
onednn_case half_forward_case(const dnnl::memory::desc& desc, const buffer_sets& sets, dnnl::algorithm algorithm) {
  const dnnl::softmax_v2_forward::primitive_desc forward(
      dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_inference, algorithm, desc, desc, 1), cpu_engine());
  return {dnnl::softmax_v2_forward(forward),
          [desc, &sets](std::size_t set) {
            return std::unordered_map<int, dnnl::memory>{{DNNL_ARG_SRC, wrap(desc, sets.input_data(set, 0))},
                                                         {DNNL_ARG_DST, wrap(desc, sets.output_data(set))}};
          },
          nullptr};
}

onednn_case make_case(const operation_traits& op, const shape& s, const buffer_sets& sets, int threads,
                      std::vector<float>& scratch) {
  const dnnl::memory::desc desc = matrix_desc(s, op.dtype);
  const std::string name = op.checked_as;
  if (op.dtype != softxent::dtype::f32)
    return half_forward_case(desc, sets, name == "softmax" ? dnnl::algorithm::softmax_accurate
                                                           : dnnl::algorithm::softmax_log);
  if (name == "softmax") return forward_case<dnnl::softmax_forward>(desc, sets, nullptr);
  if (name == "log_softmax") return forward_case<dnnl::logsoftmax_forward>(desc, sets, nullptr);
  if (name == "softmax_backward") return backward_case<dnnl::softmax_forward, dnnl::softmax_backward>(desc, sets);
  if (name == "log_softmax_backward")
    return backward_case<dnnl::logsoftmax_forward, dnnl::logsoftmax_backward>(desc, sets);
  if (name == "cross_entropy_grad")
    return forward_case<dnnl::softmax_forward>(desc, sets, [s, &sets, threads](std::size_t set) {
      float* loss = sets.row_output(set);
      benchmark::DoNotOptimize(cross_entropy_pass(s, sets.targets(set), sets.output(set), loss, threads));
    });
  // cross_entropy_loss: the log-probabilities go to one scratch matrix, reused as a user would.
  scratch.resize(s.elements());
  float* log_probs = scratch.data();
  return forward_case<dnnl::logsoftmax_forward>(desc, sets, [s, &sets, log_probs](std::size_t set) {
    benchmark::DoNotOptimize(cross_entropy_loss_pass(s, sets.targets(set), log_probs, sets.row_output(set)));
  }, log_probs);
}

void register_onednn(const operation_traits& op) {
  register_cases(op, "onednn", [op](benchmark::State& state, const shape& s, regime r, int threads) {
    const openmp_threads scope(threads);
    const buffer_sets sets(op, s, r);
    dnnl::stream stream(cpu_engine());
    onednn_case oc;
    std::vector<float> scratch;
    std::vector<std::unordered_map<int, dnnl::memory>> arguments;
    try {
      oc = make_case(op, s, sets, threads, scratch);
      for (std::size_t set = 0; set < sets.count(); ++set) arguments.push_back(oc.arguments(set));
    } catch (const dnnl::error& e) {
      state.SkipWithError((std::string("oneDNN: ") + e.what() +
                           (e.status == dnnl_unimplemented ? " (unimplemented for this data type and CPU)" : ""))
                              .c_str());
      return;
    }
    const auto run = [&](std::size_t set) {
      oc.primitive.execute(stream, arguments[set]);
      stream.wait();
      if (oc.finish) oc.finish(set);
    };
    check_and_time(state, "oneDNN", op, s, sets, run);
  }, config().min_time);
}

}  // namespace

void register_onednn_benchmarks() {
  for (const operation_traits* op : {&softmax_traits, &log_softmax_traits, &softmax_backward_traits,
                                     &log_softmax_backward_traits, &cross_entropy_loss_traits,
                                     &cross_entropy_grad_traits, &softmax_bf16_traits, &softmax_f16_traits,
                                     &log_softmax_bf16_traits, &log_softmax_f16_traits})
    register_onednn(*op);
}

}  // namespace softxent_bench
