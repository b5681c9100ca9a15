// One library call of a fuzz case, checked: the buffers of a run, the call's arguments as memory
// regions, the status those demand of it (exec, options, dtypes, NULL pointers, shapes, targets,
// overlaps), and invoke(), which makes the call and checks its status and what it wrote.
#ifndef SOFTXENT_FUZZ_CALL_CHECK_HPP
#define SOFTXENT_FUZZ_CALL_CHECK_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_case.hpp"
#include "softxent/softxent.h"

namespace softxent_fuzz {

// ---------------------------------------------------------------------------------------------
// The buffers of one run of a case, made fresh from the case so that every run starts alike.

enum storage_id : int {
  storage_first,    // the first input (x, y or logits), and outputs placed into it
  storage_second,   // dy or the target probabilities
  storage_output,   // the matrix output
  storage_loss,     // lse or loss
  storage_targets,
  storage_weights,
  storage_mask,
  storage_slopes,
  storage_sinks,
  storage_valid_cols,
  storage_stats,        // sharded: every shard's statistics
  storage_merged,       // sharded: the merged statistics finish reads
  storage_shard_loss,   // sharded: the losses of shards after the first
  storage_unsharded,    // sharded: loss and gradient of the unsharded call on the same rows
  storage_classes,      // top-k's indices, sampling's tokens (int64)
  storage_bias,         // the linear cross-entropy's (its inputs and weight are the first and second
  storage_grad_weight,  // inputs, grad_inputs the output)
  storage_grad_bias,
  storage_workspace,
  storage_count
};
extern const char* const storage_names[storage_count];

// A place in a buffer; storage < 0 is a NULL pointer.
struct location {
  int storage = -1;
  std::size_t offset = 0;  // bytes
};

struct call_buffers {
  std::array<std::vector<unsigned char>, storage_count> storage;
  location first, second, output, loss;
  location classes;               // top-k and sampling: indices or tokens (output: their log-probabilities)
  std::size_t output_stride = 0;  // elements of the case's output dtype
  // The linear cross-entropy: the weight is `second`, grad_inputs `output`.
  location bias, grad_weight, grad_bias, workspace;
  std::size_t workspace_size = 0;  // bytes passed
};

unsigned char* address(call_buffers& b, location l);
const unsigned char* address(const call_buffers& b, location l);
std::size_t loss_count(const fuzz_case& c);  // lse or loss values
std::size_t span_elements(std::size_t rows, std::size_t cols, std::size_t stride);
bool is_sentinel(const unsigned char* element, std::size_t element_size);  // an element never written
// The buffers of one run: inputs as the case holds them, outputs filled with sentinels, placed as the
// case's aliasing says.
void make_buffers(const fuzz_case& c, call_buffers& b);
// The bytes of every output element of a run (matrix output, then lse / loss), for bit comparisons.
std::vector<unsigned char> output_bytes(const fuzz_case& c, const call_buffers& b);

// ---------------------------------------------------------------------------------------------
// One library call: its arguments as memory regions, the status they demand, and what it may write.

// One pointer argument of a call and what it spans.
struct argument_region {
  const char* name = "";
  location where;                         // storage < 0: NULL
  std::size_t rows = 1, cols = 0, stride = 0;  // elements; a vector is 1 x count
  bool typed = false;                     // a matrix operand with a dtype (generic calls)
  int dtype = SOFTXENT_F32;               // its dtype, as the raw int
  std::size_t element_size = 4;
  bool matrix = false;                    // its stride and span are checked against the call's shape
  bool output = false;
  bool needed = true;                     // NULL is NULL_POINTER when rows > 0
  bool scratch = false;                   // an output the call need not write all of (a workspace)
  unsigned may_equal = 0;                 // bit k: this output may be exactly region k (same address,
                                          // stride and dtype): in place
};

argument_region vector_region(const char* name, location where, std::size_t count, std::size_t element_size);
argument_region matrix_region(const char* name, location where, std::size_t rows, std::size_t cols,
                              std::size_t stride, int dtype, bool typed);

// What the status of a call must be.
struct status_expectation {
  std::vector<softxent_status> definite;  // errors the call certainly has
  std::vector<softxent_status> maybe;     // errors the contract leaves open (e.g. shapes when rows == 0)
  void add(bool is_definite, softxent_status s) { (is_definite ? definite : maybe).push_back(s); }
};

struct call_arguments {
  std::string label;
  std::size_t rows = 0, cols = 0;  // the call's rows and the columns of its matrices
  std::vector<argument_region> regions;
  status_expectation options;  // from the options, which the operation knows
  // Integer targets (when the call takes them): region index, valid classes, the ignore index.
  int targets = -1;
  std::size_t classes = 0;
  std::int64_t ignore_index = -100;
  // A shape error the regions do not show: sharded, shard columns that do not fit the row; the fused
  // linear call, classes == 0 (its matrices are rows x hidden and classes x hidden).
  bool bad_shape = false;
  bool returns_status = true;
};

bool contains(const std::vector<softxent_status>& list, softxent_status s);
bool isa_known(const char* isa);
// The errors an exec demands of any call.
status_expectation exec_errors(const softxent_exec* exec);
status_expectation expect_status(const call_buffers& b, const call_arguments& a, const status_expectation& exec);
// "" when status is one the expectation allows, else what is wrong.
std::string status_problems(softxent_status status, const status_expectation& want);
// The output elements of the call's regions, as a mask over each storage.
std::array<std::vector<bool>, storage_count> writable_bytes(const call_buffers& b, const call_arguments& a);

struct pool_state {
  int mode = 0;  // 1: single units in reverse order; 2: random groups in random order
  std::uint64_t seed = 0;
  int calls = 0;
};

// How the calls of one run are made and checked.
struct call_context {
  const char* who;              // "tested", "reference", ...
  const softxent_exec* exec;
  pool_state* pool;             // the host pool when exec uses one
  bool check_status = true;     // the first runs check each call's status; the reruns only their bits
  status_expectation exec_expected;
  std::string problems;
};

// Makes one library call (call() returns its status) with arguments a, and checks it: the status the
// arguments demand; after an error, every buffer exactly as before; after success, nothing written
// outside the outputs, and every output element written.
template <class Call>
softxent_status invoke(call_context& context, call_buffers& b, const call_arguments& a, const Call& call) {
  const auto before = b.storage;
  if (context.pool != nullptr) context.pool->calls = 0;
  const softxent_status status = call();
  std::string prefix = std::string(context.who) + " " + a.label + ": ";
  if (context.pool != nullptr && context.pool->calls > 1)
    context.problems += prefix + "parallel_for called " + std::to_string(context.pool->calls) + " times in one call\n";
  if (context.check_status && a.returns_status) {
    const std::string wrong = status_problems(status, expect_status(b, a, context.exec_expected));
    if (!wrong.empty()) context.problems += prefix + wrong + "\n";
  }
  if (status != SOFTXENT_OK) {
    for (std::size_t s = 0; s < storage_count; ++s)
      if (b.storage[s] != before[s]) context.problems += prefix + "wrote the " + storage_names[s] + " after an error\n";
    return status;
  }
  auto writable = writable_bytes(b, a);
  if (a.rows == 0)  // a successful no-op that writes nothing
    for (std::vector<bool>& w : writable) w.assign(w.size(), false);
  for (std::size_t s = 0; s < storage_count; ++s) {
    for (std::size_t i = 0; i < b.storage[s].size(); ++i) {
      if (b.storage[s][i] != before[s][i] && !writable[s][i]) {
        context.problems += prefix + "wrote the " + storage_names[s] + " outside its outputs (byte " +
                            std::to_string(i) + ")\n";
        break;
      }
    }
  }
  for (const argument_region& r : a.regions) {
    if (!r.output || r.scratch || r.where.storage < 0 || a.rows == 0) continue;
    const unsigned char* base = address(b, r.where);
    bool unwritten = false;
    for (std::size_t row = 0; row < r.rows && !unwritten; ++row)
      for (std::size_t col = 0; col < r.cols && !unwritten; ++col)
        unwritten = is_sentinel(base + (row * r.stride + col) * r.element_size, r.element_size);
    if (unwritten) context.problems += prefix + "left an element of " + r.name + " unwritten\n";
  }
  return status;
}

}  // namespace softxent_fuzz

#endif  // SOFTXENT_FUZZ_CALL_CHECK_HPP
