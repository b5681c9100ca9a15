// Cross-entropy over a vocabulary split across MPI ranks, in one collective per step: each rank
// computes the statistics of its columns (32 bytes per row), all ranks all-gather them and merge them
// in rank order, then each rank finishes the loss (the same bits on every rank) and its own columns
// of the gradient.
//
// Why an all-gather and not MPI_Allreduce with a user operation wrapping softxent_shard_stats_merge:
// the merge rounds, so its result depends on the grouping, and MPI leaves the grouping of a user
// reduction to the implementation, which may differ from rank to rank. Merging the gathered
// statistics in rank order makes every rank do the same arithmetic on the same values. It receives
// ranks x 32 bytes per row instead of 32, which is still one round trip and small next to the logits.
#ifndef SOFTXENT_EXAMPLES_DISTRIBUTED_VOCAB_PARALLEL_HPP
#define SOFTXENT_EXAMPLES_DISTRIBUTED_VOCAB_PARALLEL_HPP

#include <mpi.h>
#include <softxent/softxent.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace vocab_parallel {

// The columns of the vocabulary rank `rank` of `ranks` holds: an uneven split is fine.
struct shard {
  std::size_t offset;
  std::size_t cols;
};
inline shard shard_of(std::size_t total_cols, int rank, int ranks) {
  const auto begin = total_cols * static_cast<std::size_t>(rank) / static_cast<std::size_t>(ranks);
  const auto end = total_cols * static_cast<std::size_t>(rank + 1) / static_cast<std::size_t>(ranks);
  return {begin, end - begin};
}

// Buffers reused from step to step (allocated by the first step of a shape, never inside softxent).
struct workspace {
  std::vector<softxent_shard_stats> local, gathered;
};

// What one step exchanged, for reporting.
struct traffic {
  std::size_t bytes_sent;   // by this rank, per step
  int collectives;          // per step
};

// loss and grad as softxent_cross_entropy_f32 over the whole rows; logits and grad hold this rank's
// columns [s.offset, s.offset + s.cols) of rows x total_cols. Returns the softxent status (the same on
// every rank for the same arguments; MPI errors abort, MPI's default).
inline softxent_status cross_entropy(MPI_Comm comm, std::size_t rows, shard s, std::size_t total_cols,
                                     const float* logits, std::size_t logits_stride, const std::int64_t* targets,
                                     const softxent_cross_entropy_options* options, float* loss, float* grad,
                                     std::size_t grad_stride, workspace& w, traffic* sent = nullptr) {
  int ranks = 1;
  MPI_Comm_size(comm, &ranks);
  w.local.resize(rows);
  w.gathered.resize(rows * static_cast<std::size_t>(ranks));
  softxent_status status = softxent_cross_entropy_shard_stats_f32(rows, s.cols, s.offset, total_cols, logits,
                                                                  logits_stride, targets, options, w.local.data(), NULL);
  if (status != SOFTXENT_OK) return status;
  const std::size_t bytes = rows * sizeof(softxent_shard_stats);
  if (bytes > static_cast<std::size_t>(std::numeric_limits<int>::max())) return SOFTXENT_ERROR_INVALID_SHAPE;
  MPI_Allgather(w.local.data(), static_cast<int>(bytes), MPI_BYTE, w.gathered.data(), static_cast<int>(bytes),
                MPI_BYTE, comm);
  // Rank 0's statistics, then each next rank's merged in: the same order on every rank.
  softxent_shard_stats* merged = w.gathered.data();
  for (int r = 1; r < ranks; ++r) softxent_shard_stats_merge(rows, w.gathered.data() + rows * static_cast<std::size_t>(r), merged);
  if (sent != nullptr) *sent = {bytes, 1};
  return softxent_cross_entropy_shard_finish_f32(rows, s.cols, s.offset, total_cols, logits, logits_stride, targets,
                                                 options, merged, loss, grad, grad_stride, NULL);
}

}  // namespace vocab_parallel

#endif  // SOFTXENT_EXAMPLES_DISTRIBUTED_VOCAB_PARALLEL_HPP
