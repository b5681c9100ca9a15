// One training step of a vocabulary-parallel output layer over MPI: each rank holds a slice of the
// output weight (its classes x hidden), computes its slice of the logits with the BLAS, and
// vocab_parallel::cross_entropy gives every rank the loss and its columns of the gradient with one
// collective. The rank then forms its slice of the weight gradient and updates its weights.
//
// Run: mpirun -np 4 ./vocab_parallel_step [--rows 64] [--hidden 128] [--classes 32000] [--check]
// (as root add --allow-run-as-root; more ranks than cores need --oversubscribe). For several machines,
// list them in a hostfile: mpirun --hostfile hosts -np 8 ./vocab_parallel_step.
//
// For the report (not part of the step), every rank also computes the whole layer alone and compares
// its columns of the gradient; rank 0 prints the loss, whether every rank got the same bits, the
// largest gradient difference against one process, and what each rank sent. --check turns the
// comparisons into the exit status.
#include <cblas.h>
#include <mpi.h>
#include <softxent/softxent.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "vocab_parallel.hpp"

namespace {

// A value in [-1, 1) from a counter: every rank generates the same weights for the same class.
float uniform_at(std::uint64_t index, std::uint64_t seed) {
  std::uint64_t z = index * 0x9e3779b97f4a7c15ull + seed;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * 0x1p-23f - 1.0f;
}

struct settings {
  std::size_t rows = 64, hidden = 128, classes = 32000;
  bool check = false;
};

settings parse(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto next = [&] { return i + 1 < argc ? std::strtoull(argv[++i], nullptr, 10) : 0ull; };
    if (arg == "--rows") s.rows = next();
    else if (arg == "--hidden") s.hidden = next();
    else if (arg == "--classes") s.classes = next();
    else if (arg == "--check") s.check = true;
  }
  if (s.rows == 0 || s.hidden == 0 || s.classes == 0) {
    std::fprintf(stderr, "usage: vocab_parallel_step [--rows N] [--hidden N] [--classes N] [--check]\n");
    std::exit(2);
  }
  return s;
}

// logits (rows x classes) = inputs (rows x hidden) * weight^T (weight: classes x hidden).
void linear(const std::vector<float>& inputs, const float* weight, std::size_t rows, std::size_t hidden,
            std::size_t classes, float* logits) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(classes),
              static_cast<int>(hidden), 1.0f, inputs.data(), static_cast<int>(hidden), weight, static_cast<int>(hidden),
              0.0f, logits, static_cast<int>(classes));
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const settings cfg = parse(argc, argv);
  const std::size_t rows = cfg.rows, hidden = cfg.hidden, classes = cfg.classes;
  const vocab_parallel::shard mine = vocab_parallel::shard_of(classes, rank, ranks);

  // The same inputs and targets on every rank; this rank's slice of the weight.
  std::vector<float> inputs(rows * hidden);
  for (std::size_t i = 0; i < inputs.size(); ++i) inputs[i] = uniform_at(i, 1);
  std::vector<std::int64_t> targets(rows);
  for (std::size_t r = 0; r < rows; ++r) targets[r] = static_cast<std::int64_t>((r * 7919u + 13u) % classes);
  targets[rows / 2] = -100;  // one padding row
  std::vector<float> weight(mine.cols * hidden);
  for (std::size_t i = 0; i < weight.size(); ++i) weight[i] = 0.2f * uniform_at(mine.offset * hidden + i, 2);

  softxent_cross_entropy_options options;
  softxent_cross_entropy_options_init(&options);
  options.label_smoothing = 0.1f;  // correct across shards: the smoothing term needs the whole row
  options.z_loss = 1e-4f;

  // The step: logits slice, one collective, loss and gradient slice, weight gradient, update.
  std::vector<float> logits(rows * mine.cols), grad(rows * mine.cols), grad_weight(mine.cols * hidden);
  vocab_parallel::workspace work;
  vocab_parallel::traffic sent{};
  float loss = 0.0f, loss_again = 0.0f;
  linear(inputs, weight.data(), rows, hidden, mine.cols, logits.data());
  softxent_status status = vocab_parallel::cross_entropy(MPI_COMM_WORLD, rows, mine, classes, logits.data(), mine.cols,
                                                         targets.data(), &options, &loss, grad.data(), mine.cols, work,
                                                         &sent);
  if (status == SOFTXENT_OK) {  // run after run: the same step again gives the same bits
    std::vector<float> grad_again(grad.size());
    status = vocab_parallel::cross_entropy(MPI_COMM_WORLD, rows, mine, classes, logits.data(), mine.cols,
                                           targets.data(), &options, &loss_again, grad_again.data(), mine.cols, work);
  }
  if (status != SOFTXENT_OK) {
    std::fprintf(stderr, "rank %d: %s\n", rank, softxent_status_string(status));
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  // grad_weight = grad^T * inputs (this rank's classes x hidden), then plain SGD on the slice. The
  // gradient of the inputs, grad * weight slice, would be summed over ranks by the layer before.
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(mine.cols), static_cast<int>(hidden),
              static_cast<int>(rows), 1.0f, grad.data(), static_cast<int>(mine.cols), inputs.data(),
              static_cast<int>(hidden), 0.0f, grad_weight.data(), static_cast<int>(hidden));
  for (std::size_t i = 0; i < weight.size(); ++i) weight[i] -= 0.5f * grad_weight[i];

  // The report: the whole layer on one process, for comparison.
  std::vector<float> full_weight(classes * hidden), full_logits(rows * classes), full_grad(rows * classes);
  for (std::size_t i = 0; i < full_weight.size(); ++i) full_weight[i] = 0.2f * uniform_at(i, 2);
  linear(inputs, full_weight.data(), rows, hidden, classes, full_logits.data());
  float single_loss = 0.0f;
  softxent_cross_entropy_f32(rows, classes, full_logits.data(), classes, targets.data(), &options, &single_loss,
                             full_grad.data(), classes, NULL);
  double max_diff = 0.0, max_grad = 0.0;
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < mine.cols; ++c) {
      const double full = full_grad[r * classes + mine.offset + c];
      max_diff = std::max(max_diff, std::fabs(static_cast<double>(grad[r * mine.cols + c]) - full));
      max_grad = std::max(max_grad, std::fabs(full));
    }
  double global_diff = 0.0, global_grad = 0.0;
  MPI_Reduce(&max_diff, &global_diff, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  MPI_Reduce(&max_grad, &global_grad, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  std::vector<float> losses(static_cast<std::size_t>(ranks));
  MPI_Gather(&loss, 1, MPI_FLOAT, losses.data(), 1, MPI_FLOAT, 0, MPI_COMM_WORLD);

  int failed = 0;
  if (rank == 0) {
    bool same_bits = std::memcmp(&loss, &loss_again, sizeof loss) == 0;
    for (float other : losses) same_bits = same_bits && std::memcmp(&other, &loss, sizeof loss) == 0;
    const double loss_diff = std::fabs(static_cast<double>(loss) - single_loss);
    std::printf("ranks %d: rows %zu, hidden %zu, classes %zu (rank 0 holds %zu)\n", ranks, rows, hidden, classes,
                mine.cols);
    std::printf("  loss %.9g, the same bits on every rank and in a second run: %s\n", static_cast<double>(loss),
                same_bits ? "yes" : "NO");
    std::printf("  one process: loss %.9g (difference %.3g); largest gradient difference %.3g (largest gradient %.3g)\n",
                static_cast<double>(single_loss), loss_diff, global_diff, global_grad);
    std::printf("  per step and rank: %d collective (all-gather), %zu bytes sent (%zu rows x %zu bytes)\n",
                sent.collectives, sent.bytes_sent, rows, sizeof(softxent_shard_stats));
    // SPEC's bounds for both results (each within its own of the exact values), with room for the
    // sum over a row of up to 2^17 classes: 64 eps relative.
    const double eps = 0x1p-23;
    failed = !same_bits || loss_diff > 64 * eps * std::fabs(single_loss) || global_diff > 64 * eps * global_grad;
    if (cfg.check) std::printf("  check: %s\n", failed ? "FAILED" : "passed");
  }
  MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Finalize();
  return cfg.check && failed ? 1 : 0;
}
