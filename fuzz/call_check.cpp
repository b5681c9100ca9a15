// See call_check.hpp.
#include "call_check.hpp"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <utility>

#include "oracle/oracle.hpp"

namespace softxent_fuzz {

using softxent_oracle::dtype_size;
using softxent_oracle::valid_dtype;

const char* const storage_names[storage_count] = {"first input", "second input", "output",  "loss/lse",
                                                  "targets",     "weights",      "mask",    "slopes",
                                                  "sinks",       "valid_cols",   "stats",   "merged stats",
                                                  "shard losses", "unsharded outputs", "class indices",
                                                  "bias",        "grad_weight",  "grad_bias", "workspace"};

unsigned char* address(call_buffers& b, location l) {
  return l.storage < 0 ? nullptr : b.storage[static_cast<std::size_t>(l.storage)].data() + l.offset;
}
const unsigned char* address(const call_buffers& b, location l) {
  return l.storage < 0 ? nullptr : b.storage[static_cast<std::size_t>(l.storage)].data() + l.offset;
}

std::size_t loss_count(const fuzz_case& c) {
  if (c.has(trait_lse_output)) return c.rows;
  const int reduction = c.options_null ? 0 : c.reduction_raw;
  return reduction == 2 ? c.rows : 1;
}

std::size_t span_elements(std::size_t rows, std::size_t cols, std::size_t stride) {
  return rows == 0 ? 0 : (rows - 1) * stride + cols;
}

namespace {

constexpr std::uint32_t sentinel_bits = 0x7fa5a5a5u;  // a float NaN no arithmetic produces
constexpr std::uint16_t sentinel_half = 0x7fa5;       // a NaN in F16 and BF16 the library never writes

// count elements of the sentinel of a dtype.
std::vector<unsigned char> sentinels(std::size_t count, int dtype) {
  std::vector<unsigned char> bytes(std::max<std::size_t>(count, 1) * dtype_size(dtype));
  for (std::size_t i = 0; i < bytes.size(); i += dtype_size(dtype)) {
    if (dtype_size(dtype) == 2) std::memcpy(&bytes[i], &sentinel_half, 2);
    else std::memcpy(&bytes[i], &sentinel_bits, 4);
  }
  return bytes;
}

template <class T>
std::vector<unsigned char> bytes_of(const std::vector<T>& values) {
  std::vector<unsigned char> bytes(std::max<std::size_t>(values.size(), 1) * sizeof(T));
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), values.size() * sizeof(T));
  return bytes;
}

// Places an output spanning `bytes` in the storage at `offset`, growing the storage with sentinels so
// that the output fits.
location place_in(call_buffers& b, int storage, std::size_t offset, std::size_t bytes) {
  std::vector<unsigned char>& s = b.storage[static_cast<std::size_t>(storage)];
  if (s.size() < offset + bytes) {
    const std::vector<unsigned char> fill = sentinels((offset + bytes - s.size() + 3) / 4, SOFTXENT_F32);
    s.insert(s.end(), fill.begin(), fill.begin() + static_cast<std::ptrdiff_t>(offset + bytes - s.size()));
  }
  return {storage, offset};
}

}  // namespace

// Halves hold the half sentinel, floats the float's, 8-byte elements (doubles, int64 indices) two of
// the float's: NaNs, and class indices far beyond any row, that the library never writes.
bool is_sentinel(const unsigned char* element, std::size_t element_size) {
  if (element_size == 2) return std::memcmp(element, &sentinel_half, 2) == 0;
  for (std::size_t i = 0; i < element_size; i += 4)
    if (std::memcmp(element + i, &sentinel_bits, 4) != 0) return false;
  return true;
}

namespace {

// The linear cross-entropy's buffers: inputs, weight, bias, grad_weight and grad_bias as the case holds
// them, grad_inputs and the loss sentinels, the workspace of the size the case asks for (sentinels;
// the size queried with a NULL exec). The aliasings: grad_inputs at the inputs (in place, other stride,
// from within their last element: OVERLAP; right after them: allowed), grad_weight one element into
// the weight, grad_bias at the bias (in place second), the loss in the inputs or in grad_weight, the
// workspace at grad_inputs: OVERLAP.
void make_linear_buffers(const fuzz_case& c, call_buffers& b) {
  const linear_case& l = c.linear;
  b.storage[storage_output] = sentinels(c.out.elements, SOFTXENT_F32);  // grad_inputs
  b.storage[storage_bias] = bytes_of(l.bias);
  b.storage[storage_grad_weight] = bytes_of(l.grad_weight_start);
  b.storage[storage_grad_bias] = bytes_of(l.grad_bias_start);
  b.bias = {storage_bias, 0};
  b.grad_weight = {storage_grad_weight, 0};
  b.grad_bias = {storage_grad_bias, 0};
  const std::size_t size = softxent_linear_cross_entropy_workspace_size(c.rows, l.hidden, c.cols, nullptr);
  b.storage[storage_workspace] = sentinels((size + 64 + 1 + 3) / 4, SOFTXENT_F32);
  b.workspace = {storage_workspace, l.workspace == workspace_misaligned ? std::size_t{1} : 0};
  b.workspace_size = l.workspace == workspace_larger ? size + 64 : l.workspace == workspace_short && size > 0 ? size - 1 : size;
  if (l.workspace == workspace_null || (l.workspace == workspace_short && size == 0)) b.workspace = {};
  const std::size_t inputs_bytes = c.in0.overflow ? 0 : span_elements(c.rows, l.hidden, c.in0.stride) * sizeof(float);
  const std::size_t grad_bytes = (c.out.overflow ? 1 : span_elements(c.rows, l.hidden, c.out.stride)) * sizeof(float);
  switch (c.alias) {
    case alias_in_place: b.output = b.first; b.output_stride = c.in0.stride; break;
    case alias_other_stride: b.output = b.first; b.output_stride = c.in0.stride + 1; break;
    case alias_adjacent: b.output = place_in(b, storage_first, inputs_bytes, grad_bytes); break;
    case alias_last_element:
      if (inputs_bytes > 0) b.output = place_in(b, storage_first, inputs_bytes - sizeof(float), grad_bytes);
      break;
    case alias_shifted:  // (without grad_weight, its start values would overwrite the weight's)
      if (l.grad_weight_null) break;
      b.grad_weight = place_in(b, storage_second, sizeof(float), b.storage[storage_grad_weight].size());
      if (!l.grad_weight_start.empty())
        std::memcpy(address(b, b.grad_weight), l.grad_weight_start.data(), l.grad_weight_start.size() * sizeof(float));
      break;
    case alias_in_place_second:  // (without a bias, grad_bias would start from the bias's values)
      if (!l.bias_null) b.grad_bias = b.bias;
      break;
    case alias_loss_in_input: b.loss = place_in(b, storage_first, 0, loss_count(c) * sizeof(float)); break;
    case alias_loss_in_output: b.loss = place_in(b, storage_grad_weight, 0, loss_count(c) * sizeof(float)); break;
    case alias_in_mask: b.workspace = place_in(b, storage_output, 0, b.workspace_size); break;
    default: break;
  }
  switch (c.null_pointer) {  // 0 inputs, 1 targets (where the call passes them), 2 weight, 3 loss
    case 0: b.first.storage = -1; break;
    case 2: b.second.storage = -1; break;
    case 3: b.loss.storage = -1; break;
    default: break;
  }
  if (l.bias_null) b.bias.storage = -1;
  if (l.grad_inputs_null) b.output.storage = -1;
  if (l.grad_weight_null) b.grad_weight.storage = -1;
  if (l.grad_bias_null) b.grad_bias.storage = -1;
}

}  // namespace

void make_buffers(const fuzz_case& c, call_buffers& b) {
  b.storage[storage_first] = c.bytes0;
  b.storage[storage_second] = c.bytes1;
  if (b.storage[storage_first].empty()) b.storage[storage_first].assign(4, 0);
  if (b.storage[storage_second].empty()) b.storage[storage_second].assign(4, 0);
  const bool selection = c.has(trait_class_output);
  const std::size_t class_count = c.rows * c.classes_per_row();  // indices, and their log-probabilities
  if (c.has(trait_seeds)) b.storage[storage_second] = bytes_of(c.selection.seeds);
  b.storage[storage_output] = selection ? sentinels(class_count, SOFTXENT_F32)
                                        : sentinels(c.has_matrix_output() ? c.out.elements : 0, c.out.dtype);
  b.storage[storage_classes] = sentinels(2 * class_count, SOFTXENT_F32);
  b.storage[storage_loss] = sentinels(loss_count(c), SOFTXENT_F32);
  b.storage[storage_targets] = bytes_of(c.targets);
  b.storage[storage_weights] = bytes_of(c.weights);
  b.storage[storage_mask] = c.transform.mask_bytes.empty() ? std::vector<unsigned char>(4, 0) : c.transform.mask_bytes;
  b.storage[storage_slopes] = bytes_of(c.transform.slopes);
  b.storage[storage_sinks] = bytes_of(c.transform.sinks);
  b.storage[storage_valid_cols] = bytes_of(c.transform.valid_cols);
  const std::size_t stats_bytes = std::max<std::size_t>(c.rows, 1) * sizeof(softxent_shard_stats);
  b.storage[storage_stats] = sentinels(c.shards.offsets.size() * stats_bytes / 4, SOFTXENT_F32);
  b.storage[storage_merged] = sentinels(stats_bytes / 4, SOFTXENT_F32);
  b.storage[storage_shard_loss] = sentinels(c.shards.offsets.size() * loss_count(c), SOFTXENT_F32);
  const bool sharded_grad = c.op == op_cross_entropy_sharded && c.with_grad && !c.in0.overflow;
  b.storage[storage_unsharded] = sentinels(loss_count(c) + (sharded_grad ? c.rows * c.cols : 0), SOFTXENT_F32);
  b.first = {storage_first, 0};
  b.second = {storage_second, 0};
  b.output = {storage_output, 0};
  b.loss = {storage_loss, 0};
  b.classes = {storage_classes, 0};
  b.output_stride = c.out.stride;
  if (c.has(trait_linear)) {
    make_linear_buffers(c, b);
    return;
  }

  // The output the placements move: the matrix output, else the class indices, else lse / loss.
  const bool matrix = c.has_matrix_output();
  const std::size_t loss_bytes = loss_count(c) * sizeof(float);
  const std::size_t out_size = matrix ? dtype_size(c.out.dtype) : selection ? sizeof(std::int64_t) : sizeof(float);
  const std::size_t out_bytes = matrix      ? (c.out.overflow ? 1 : span_elements(c.rows, c.cols, c.out.stride)) * out_size
                                : selection ? class_count * out_size
                                            : loss_bytes;
  const std::size_t first_bytes = c.in0.overflow ? 0 : span_elements(c.rows, c.cols, c.in0.stride) * dtype_size(c.in0.dtype);
  location& moved = matrix ? b.output : selection ? b.classes : b.loss;
  // The "loss" the placements move: the class indices' log-probabilities in the input, and in the
  // indices' output top-k's lse or the sampled log-probabilities.
  location& loss = selection && c.alias == alias_loss_in_input ? b.output : b.loss;
  const int loss_output = selection && !c.has(trait_lse_output) ? storage_classes : storage_output;
  const std::size_t moved_loss_bytes = &loss == &b.output ? class_count * sizeof(float) : loss_bytes;
  switch (c.alias) {
    case alias_in_place:
      b.output = b.first;
      b.output_stride = c.in0.stride;
      break;
    case alias_in_place_second:
      if (selection) {  // the tokens over the seeds
        b.classes = b.second;
        break;
      }
      b.output = b.second;
      b.output_stride = c.in1.stride;
      break;
    case alias_other_stride:
      b.output = b.first;
      b.output_stride = c.in0.stride + 1;
      break;
    case alias_shifted:
      if (matrix) b.output_stride = c.in0.stride;
      moved = place_in(b, storage_first, out_size, out_bytes);
      break;
    case alias_loss_in_input: {
      const int inside = c.op == op_cross_entropy_sharded ? storage_merged : storage_first;
      loss = place_in(b, inside, b.storage[static_cast<std::size_t>(inside)].size() / 8 * 4, moved_loss_bytes);
      break;
    }
    case alias_adjacent:  // the first aligned place after the first input's last element
      moved = place_in(b, storage_first, (first_bytes + out_size - 1) / out_size * out_size, out_bytes);
      break;
    case alias_last_element:  // from within the first input's last element
      if (first_bytes > 0) moved = place_in(b, storage_first, (first_bytes - 1) / out_size * out_size, out_bytes);
      break;
    case alias_in_mask:
      moved = place_in(b, storage_mask, 0, out_bytes);
      break;
    case alias_loss_in_output: {
      location& inner = selection && loss_output == storage_classes ? b.output : b.loss;
      const std::size_t bytes = &inner == &b.output ? class_count * sizeof(float) : loss_bytes;
      inner = place_in(b, loss_output, b.storage[static_cast<std::size_t>(loss_output)].size() / 8 * 4, bytes);
      break;
    }
    default: break;
  }
  // Top-k and sampling: a needed pointer passed as NULL (0 logits, 1 seeds or else logits, 2 and 3 the
  // class indices), and the optional outputs.
  if (selection) {
    switch (c.null_pointer) {
      case 0: b.first.storage = -1; break;
      case 1: (c.has(trait_seeds) ? b.second : b.first).storage = -1; break;
      case 2: case 3: b.classes.storage = -1; break;
      default: break;
    }
    if (c.selection.log_probs_null) b.output.storage = -1;
    if (c.selection.lse_null || !c.has(trait_lse_output)) b.loss.storage = -1;
    return;
  }
  // A needed pointer passed as NULL: 0 first input, 1 targets / second input, 2 output, 3 loss / lse.
  switch (c.null_pointer) {
    case 0: b.first.storage = -1; break;
    case 1:
      if (c.has(trait_second_input)) b.second.storage = -1;
      else if (!c.has(trait_integer_targets)) b.first.storage = -1;
      break;  // targets: where the call passes them
    case 2:
      if (c.has_matrix_output() && !c.has(trait_grad_output)) b.output.storage = -1;
      else if (c.op != op_cross_entropy_sharded) b.loss.storage = -1;  // a gradient is optional, a loss not
      break;  // sharded: the statistics, where the calls pass them
    case 3:
      if (c.has_vector_output()) b.loss.storage = -1;
      else b.output.storage = -1;
      break;
    default: break;
  }
}

// The bytes of every output element of a run (matrix output, then lse / loss), for bit comparisons.
std::vector<unsigned char> output_bytes(const fuzz_case& c, const call_buffers& b) {
  std::vector<unsigned char> bytes;
  if (c.has(trait_linear)) {  // every buffer but the workspace (the outputs' placements vary)
    for (std::size_t s = 0; s < storage_count; ++s)
      if (s != storage_workspace) bytes.insert(bytes.end(), b.storage[s].begin(), b.storage[s].end());
    return bytes;
  }
  if (c.has_matrix_output() && b.output.storage >= 0) {
    const std::size_t size = dtype_size(c.out.dtype);
    const unsigned char* base = address(b, b.output);
    for (std::size_t r = 0; r < c.rows; ++r)
      bytes.insert(bytes.end(), base + r * b.output_stride * size, base + (r * b.output_stride + c.cols) * size);
  }
  if (c.has_vector_output() && b.loss.storage >= 0) {
    const unsigned char* loss = address(b, b.loss);
    bytes.insert(bytes.end(), loss, loss + loss_count(c) * sizeof(float));
  }
  const std::size_t class_count = c.has(trait_class_output) ? c.rows * c.classes_per_row() : 0;
  for (const auto& [where, size] : {std::pair{b.classes, sizeof(std::int64_t)}, std::pair{b.output, sizeof(float)}}) {
    if (class_count == 0 || where.storage < 0) continue;
    const unsigned char* data = address(b, where);
    bytes.insert(bytes.end(), data, data + class_count * size);
  }
  return bytes;
}


argument_region vector_region(const char* name, location where, std::size_t count, std::size_t element_size) {
  argument_region a;
  a.name = name;
  a.where = where;
  a.cols = count;
  a.stride = count;
  a.element_size = element_size;
  return a;
}
argument_region matrix_region(const char* name, location where, std::size_t rows, std::size_t cols,
                              std::size_t stride, int dtype, bool typed) {
  argument_region a = vector_region(name, where, cols, dtype_size(typed ? dtype : SOFTXENT_F32));
  a.rows = rows;
  a.stride = stride;
  a.typed = typed;
  a.dtype = typed ? dtype : SOFTXENT_F32;
  a.matrix = true;
  return a;
}


bool contains(const std::vector<softxent_status>& list, softxent_status s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

bool isa_known(const char* isa) {
  if (isa == nullptr) return true;
  static const char* const known[] = {"auto", "reference", "scalar", "sse2", "avx2", "avx512", "neon"};
  for (const char* name : known)
    if (std::strcmp(name, isa) == 0) return true;
  return false;
}

// The errors an exec demands of any call.
status_expectation exec_errors(const softxent_exec* exec) {
  status_expectation e;
  if (exec == nullptr) return e;
  if (exec->threads < 0) e.add(true, SOFTXENT_ERROR_INVALID_OPTION);
  if (!isa_known(exec->isa)) {
    e.add(true, SOFTXENT_ERROR_INVALID_OPTION);
  } else {
    softxent_exec probe{};
    probe.threads = 1;
    probe.isa = exec->isa;
    if (softxent_isa(&probe) == nullptr) e.add(true, SOFTXENT_ERROR_UNSUPPORTED_ISA);
  }
  return e;
}

namespace {

struct byte_span {
  std::uintptr_t begin = 0, end = 0;
};
byte_span span_of(const call_buffers& b, const argument_region& a) {
  const auto begin = reinterpret_cast<std::uintptr_t>(address(b, a.where));
  return {begin, begin + span_elements(a.rows, a.cols, a.stride) * a.element_size};
}

// SPEC: in place is the same pointer and stride (and dtype) where allowed; any other overlap of an
// output's span with another argument's span is OVERLAP.
bool has_overlap(const call_buffers& b, const call_arguments& a) {
  for (std::size_t o = 0; o < a.regions.size(); ++o) {
    const argument_region& out = a.regions[o];
    if (!out.output || out.where.storage < 0) continue;
    const byte_span x = span_of(b, out);
    for (std::size_t k = 0; k < a.regions.size(); ++k) {
      const argument_region& other = a.regions[k];
      if (k == o || other.where.storage < 0) continue;
      const byte_span y = span_of(b, other);
      if (x.begin >= x.end || y.begin >= y.end || x.begin >= y.end || y.begin >= x.end) continue;
      const bool exact = x.begin == y.begin && out.stride == other.stride && out.dtype == other.dtype &&
                         out.element_size == other.element_size;
      if (!(exact && !other.output && ((out.may_equal >> k) & 1u))) return true;
    }
  }
  return false;
}

}  // namespace

status_expectation expect_status(const call_buffers& b, const call_arguments& a, const status_expectation& exec) {
  status_expectation e = exec;
  for (softxent_status s : a.options.definite) e.add(true, s);
  for (softxent_status s : a.options.maybe) e.add(false, s);
  const bool rows = a.rows > 0;
  bool missing = false, bad_dtype = false, shape_bad = a.cols == 0 || a.bad_shape;
  for (const argument_region& r : a.regions) {
    if (r.where.storage < 0) {  // a NULL operand's dtype matters only where the operand is needed
      missing = missing || r.needed;
      bad_dtype = bad_dtype || (r.needed && r.typed && !valid_dtype(r.dtype));
      continue;
    }
    if (r.typed && !valid_dtype(r.dtype)) {
      bad_dtype = true;
      continue;
    }
    if (r.matrix && (r.rows == 0 || r.stride < r.cols || span_overflows(r.rows, r.cols, r.stride, r.element_size)))
      shape_bad = true;
  }
  if (bad_dtype) e.add(rows, SOFTXENT_ERROR_UNSUPPORTED_DTYPE);
  if (missing) e.add(rows, SOFTXENT_ERROR_NULL_POINTER);
  if (shape_bad) e.add(rows && !missing && !bad_dtype, SOFTXENT_ERROR_INVALID_SHAPE);
  if (a.targets >= 0 && a.regions[static_cast<std::size_t>(a.targets)].where.storage >= 0) {
    const auto* targets = reinterpret_cast<const std::int64_t*>(address(b, a.regions[static_cast<std::size_t>(a.targets)].where));
    for (std::size_t r = 0; r < a.rows; ++r) {
      const std::int64_t t = targets[r];
      if (t != a.ignore_index && (t < 0 || static_cast<std::uint64_t>(t) >= a.classes)) {
        e.add(rows && !shape_bad && !bad_dtype, SOFTXENT_ERROR_INVALID_TARGET);
        break;
      }
    }
  }
  if (bad_dtype) e.add(false, SOFTXENT_ERROR_OVERLAP);  // spans unknown
  else if (!shape_bad && has_overlap(b, a)) e.add(rows, SOFTXENT_ERROR_OVERLAP);
  return e;
}

std::string status_problems(softxent_status status, const status_expectation& want) {
  std::vector<softxent_status> distinct = want.definite;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  std::ostringstream s;
  if (distinct.empty() && want.maybe.empty() && status != SOFTXENT_OK)
    s << "valid call failed with " << softxent_status_string(status);
  else if (distinct.empty() && status != SOFTXENT_OK && !contains(want.maybe, status))
    s << "call failed with " << softxent_status_string(status) << ", not a status this case may have";
  else if (!distinct.empty() && status == SOFTXENT_OK)
    s << "invalid call succeeded (expected " << softxent_status_string(distinct[0]) << ")";
  else if (!distinct.empty() && !contains(distinct, status) && !contains(want.maybe, status))
    s << "got " << softxent_status_string(status) << ", expected " << softxent_status_string(distinct[0])
      << (distinct.size() > 1 ? " or another error of the case" : "");
  return s.str();
}


// The output elements of the call's regions, as a mask over each storage.
std::array<std::vector<bool>, storage_count> writable_bytes(const call_buffers& b, const call_arguments& a) {
  std::array<std::vector<bool>, storage_count> writable;
  for (std::size_t s = 0; s < storage_count; ++s) writable[s].assign(b.storage[s].size(), false);
  for (const argument_region& r : a.regions) {
    if (!r.output || r.where.storage < 0) continue;
    std::vector<bool>& w = writable[static_cast<std::size_t>(r.where.storage)];
    for (std::size_t row = 0; row < r.rows; ++row) {
      const std::size_t first = r.where.offset + row * r.stride * r.element_size;
      for (std::size_t i = first; i < first + r.cols * r.element_size && i < w.size(); ++i) w[i] = true;
    }
  }
  return writable;
}


}  // namespace softxent_fuzz
