// See c_api_checker.hpp. The byte layout is read front to back; missing bytes read as 0, so every
// input, even empty, is a valid case.
#include "c_api_checker.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>
#include <utility>
#include <vector>

#include "oracle.hpp"
#include "softxent/softxent.h"

namespace softxent_fuzz {
namespace {

using softxent_reliability::compare;
using softxent_reliability::compare_bits;
using softxent_reliability::expected;
using softxent_reliability::matrix_in;

constexpr float infinity = std::numeric_limits<float>::infinity();
constexpr float float_max = std::numeric_limits<float>::max();
constexpr std::size_t size_max = std::numeric_limits<std::size_t>::max();

class byte_reader {
 public:
  byte_reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t byte() {
    if (size_ == 0) return 0;
    --size_;
    return *data_++;
  }
  std::uint16_t u16() { return static_cast<std::uint16_t>(byte() | (byte() << 8)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(u16()) | (static_cast<std::uint32_t>(u16()) << 16); }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
};

// splitmix64: fills large inputs from a seed the fuzzer controls.
struct random_bits {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  double normal() {  // Box-Muller
    const double u = 1.0 - uniform(), v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
};

enum operation : int {
  op_logsumexp,
  op_softmax,
  op_log_softmax,
  op_softmax_backward,
  op_log_softmax_backward,
  op_cross_entropy_loss,
  op_cross_entropy_grad,
  op_cross_entropy_soft_loss,
  op_cross_entropy_soft_grad,
  op_count
};
const char* const operation_names[op_count] = {
    "logsumexp", "softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
    "cross_entropy(loss)", "cross_entropy(grad)", "cross_entropy_soft(loss)", "cross_entropy_soft(grad)"};

bool is_cross_entropy(int op) { return op >= op_cross_entropy_loss; }
bool is_soft(int op) { return op == op_cross_entropy_soft_loss || op == op_cross_entropy_soft_grad; }
bool wants_grad(int op) { return op == op_cross_entropy_grad || op == op_cross_entropy_soft_grad; }
bool is_backward(int op) { return op == op_softmax_backward || op == op_log_softmax_backward; }
// The operations whose second matrix input exists (backward: dy; soft cross-entropy: target probs).
bool has_second_input(int op) { return is_backward(op) || is_soft(op); }
// The operations with a matrix output.
bool has_matrix_output(int op) { return op != op_logsumexp && op != op_cross_entropy_loss && op != op_cross_entropy_soft_loss; }

const char* const isa_choices[] = {nullptr, "auto", "reference", "scalar", "sse2", "avx2", "avx512", "neon", "bogus"};
constexpr int isa_choice_count = sizeof(isa_choices) / sizeof(isa_choices[0]);

// How an output sits relative to the inputs.
enum aliasing : int {
  alias_none,
  alias_in_place,           // output == first input, same stride (allowed)
  alias_in_place_second,    // backward only: dx == dy, same stride (allowed)
  alias_other_stride,       // output == first input with a larger stride: OVERLAP
  alias_shifted,            // output one element into the first input: OVERLAP
  alias_loss_in_input,      // cross-entropy: loss inside the logits: OVERLAP
  alias_count
};

// Values: kinds of float a fuzz input can ask for.
float value_of_kind(int kind, random_bits& bits) {
  const float sign = (bits.next() & 1) ? -1.0f : 1.0f;
  switch (kind % 16) {
    case 0: return static_cast<float>(3.0 * bits.normal());
    case 1: return static_cast<float>(bits.uniform(-100, 100));
    case 2: return static_cast<float>(bits.uniform(88, 100));
    case 3: return sign * 3e38f;
    case 4: return float_max;
    case 5: return -float_max;
    case 6: return -infinity;
    case 7: return infinity;
    case 8: return std::numeric_limits<float>::quiet_NaN();
    case 9: return sign * static_cast<float>(bits.uniform(1e-45, 1e-38));
    case 10: return sign * 1e-30f;
    case 11: return 0.0f;
    case 12: return -0.0f;
    case 13: return static_cast<float>(bits.uniform(-1e4, 1e4));
    case 14: return -3e38f;
    default: return static_cast<float>(bits.uniform(-1e20, 1e20));
  }
}

// Kinds that keep backward inputs where float and exact arithmetic agree on overflow.
int bounded_kind(int kind) {
  static const int kinds[] = {0, 1, 6, 7, 8, 9, 11, 12, 13, 0, 1, 0, 6, 8, 11, 13};
  return kinds[kind % 16];
}

struct matrix_spec {
  std::size_t stride = 0;
  std::size_t elements = 0;  // allocated: the span, or 1 when the span overflows
  bool overflow = false;
};

matrix_spec make_matrix_spec(std::size_t rows, std::size_t cols, std::uint8_t stride_byte) {
  matrix_spec spec;
  const int choice = stride_byte % 16;
  if (choice < 10) spec.stride = cols;
  else if (choice < 14) spec.stride = cols + 1 + (stride_byte >> 4) % 5;
  else if (choice == 14) spec.stride = cols > 0 ? cols - 1 : 0;  // too short unless cols == 0
  else spec.stride = size_max / 4 + 1 + (stride_byte >> 4);    // the byte count overflows
  if (rows == 0) {
    spec.elements = 0;
  } else if (spec.stride > (size_max / 4 - cols) / std::max<std::size_t>(rows - 1, 1) && rows > 1) {
    spec.overflow = true;
    spec.elements = 1;
  } else if (cols > size_max / 4) {
    spec.overflow = true;
    spec.elements = 1;
  } else {
    spec.elements = std::max<std::size_t>((rows - 1) * spec.stride + cols, 1);  // never a NULL data()
  }
  if (spec.elements > (std::size_t{1} << 24)) {  // the fuzzer should not spend its time allocating
    spec.overflow = true;
    spec.elements = 1;
  }
  return spec;
}

struct pool_state {
  int mode = 0;  // 1: single units in reverse order; 2: random groups in random order
  std::uint64_t seed = 0;
  int calls = 0;
};

void fake_parallel_for(void* pool, std::size_t units, softxent_task task, void* context) {
  auto& state = *static_cast<pool_state*>(pool);
  ++state.calls;
  if (state.mode == 1) {
    for (std::size_t unit = units; unit-- > 0;) task(context, unit, unit + 1);
    return;
  }
  random_bits bits{state.seed};
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  for (std::size_t first = 0; first < units;) {
    const std::size_t length = 1 + static_cast<std::size_t>(bits.next() % std::max<std::size_t>(units / 2, 1));
    const std::size_t end = std::min(units, first + length);
    ranges.emplace_back(first, end);
    first = end;
  }
  for (std::size_t i = ranges.size(); i > 1; --i) std::swap(ranges[i - 1], ranges[bits.next() % i]);
  for (const auto& range : ranges) task(context, range.first, range.second);
}

struct fuzz_case {
  int op = 0;
  std::size_t rows = 0, cols = 0;
  matrix_spec in0, in1, out;  // first input, second input (dy / probs), matrix output
  int alias = alias_none;
  int null_pointer = -1;      // index of a needed pointer passed as NULL, or -1
  // exec
  bool exec_null = false;
  int threads = 0;
  const char* isa = nullptr;
  int pool_mode = 0;
  std::uint64_t pool_seed = 0;
  // cross-entropy options
  bool options_null = true;
  softxent_cross_entropy_options options{};
  int reduction_raw = 0;  // options.reduction as an int (never read back through the enum type)
  std::vector<float> weights;
  int weight_kind = 0;
  std::vector<std::int64_t> targets;
  // values
  std::vector<float> values0, values1;  // pristine inputs (gaps hold garbage)
  int style0 = 0, style1 = 0;
};

// Fills a rows x cols matrix (stride) of logits: a style for the bulk, then explicit overrides.
void fill_logits(std::vector<float>& v, const fuzz_case& c, const matrix_spec& spec, int style, random_bits& bits,
                 byte_reader& in) {
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::numeric_limits<float>::quiet_NaN();  // gaps
  for (std::size_t r = 0; r < c.rows; ++r) {
    const bool masked_row = style == 6 && bits.next() % 3 == 0;
    for (std::size_t col = 0; col < c.cols; ++col) {
      float value = 0;
      switch (style) {
        case 0: value = value_of_kind(0, bits); break;
        case 1: value = value_of_kind(1, bits); break;
        case 2: value = value_of_kind(bits.next() % 2 ? 2 : 0, bits); break;
        case 3: value = value_of_kind(static_cast<int>(bits.next() % 4 == 0 ? 3 + bits.next() % 3 : 0), bits); break;
        case 4: value = value_of_kind(static_cast<int>(bits.next() % 2 ? 9 + bits.next() % 4 : 0), bits); break;
        case 5: value = bits.next() % 4 == 0 ? -infinity : value_of_kind(0, bits); break;
        case 6: value = masked_row ? -infinity : value_of_kind(0, bits); break;
        default: value = value_of_kind(bits.next() % 32 == 0 ? static_cast<int>(6 + bits.next() % 3) : 0, bits); break;
      }
      v[r * spec.stride + col] = value;
    }
  }
  const int overrides = in.byte() % 8;
  for (int i = 0; i < overrides; ++i) {
    const std::uint16_t where = in.u16();
    const int kind = in.byte();
    if (c.rows == 0 || c.cols == 0) continue;
    const std::size_t r = where % c.rows, col = (where / c.rows) % c.cols;
    v[r * spec.stride + col] = value_of_kind(kind, bits);
  }
}

// Inputs of the backward operations: y of the forward operation (or arbitrary), and dy.
void fill_backward(fuzz_case& c, random_bits& bits, byte_reader& in) {
  const bool log_form = c.op == op_log_softmax_backward;
  std::fill(c.values0.begin(), c.values0.end(), std::numeric_limits<float>::quiet_NaN());
  std::fill(c.values1.begin(), c.values1.end(), std::numeric_limits<float>::quiet_NaN());
  std::vector<double> row(c.cols);
  for (std::size_t r = 0; r < c.rows; ++r) {
    double max = -INFINITY;
    for (std::size_t col = 0; col < c.cols; ++col) {
      row[col] = (c.style0 % 4 == 1 && bits.next() % 4 == 0) ? -INFINITY : 3.0 * bits.normal();
      max = std::max(max, row[col]);
    }
    double sum = 0;
    for (std::size_t col = 0; col < c.cols; ++col) sum += std::exp(row[col] - max);
    for (std::size_t col = 0; col < c.cols; ++col) {
      float y = 0;
      switch (c.style0 % 4) {
        case 0:
        case 1: y = static_cast<float>(log_form ? row[col] - max - std::log(sum) : std::exp(row[col] - max) / sum); break;
        case 2: y = static_cast<float>(log_form ? bits.uniform(-50, 1) : bits.uniform(-2, 2)); break;
        default: y = value_of_kind(bounded_kind(static_cast<int>(bits.next() % 16 == 0 ? 6 + bits.next() % 3 : 0)), bits);
      }
      if (!log_form && c.style0 % 4 == 3 && std::isfinite(y)) y = std::fmod(y, 2.0f);
      if (log_form && c.style0 % 4 == 3 && std::isfinite(y)) y = std::min(y, 2.0f);
      c.values0[r * c.in0.stride + col] = y;
      float dy = 0;
      switch (c.style1 % 4) {
        case 0: dy = static_cast<float>(bits.uniform(-10, 10)); break;
        case 1: dy = static_cast<float>(bits.uniform(-1e6, 1e6)); break;
        case 2: dy = static_cast<float>(bits.normal() * 1e-20); break;
        default: dy = value_of_kind(bounded_kind(static_cast<int>(bits.next() % 16 == 0 ? 6 + bits.next() % 3 : 13)), bits);
      }
      c.values1[r * c.in1.stride + col] = dy;
    }
  }
  const int overrides = in.byte() % 8;
  for (int i = 0; i < overrides; ++i) {
    const std::uint16_t where = in.u16();
    const int kind = bounded_kind(in.byte());
    const bool second = in.byte() & 1;
    if (c.rows == 0 || c.cols == 0) continue;
    const std::size_t r = where % c.rows, col = (where / c.rows) % c.cols;
    float value = value_of_kind(kind, bits);
    if (log_form && !second && value > 2) value = 2;  // exp(y) must not overflow a float
    (second ? c.values1[r * c.in1.stride + col] : c.values0[r * c.in0.stride + col]) = value;
  }
}

void fill_probabilities(fuzz_case& c, random_bits& bits, byte_reader& in) {
  std::fill(c.values1.begin(), c.values1.end(), std::numeric_limits<float>::quiet_NaN());
  for (std::size_t r = 0; r < c.rows; ++r) {
    double total = 0;
    std::vector<double> q(c.cols);
    const std::size_t hot = c.cols ? bits.next() % c.cols : 0;
    for (std::size_t col = 0; col < c.cols; ++col) {
      switch (c.style1 % 4) {
        case 0: q[col] = std::exp(2 * bits.normal()); break;
        case 1: q[col] = col == hot ? 1 : 0; break;
        case 2: q[col] = c.values0[r * c.in0.stride + col] == -infinity ? 0 : bits.uniform(); break;
        default: q[col] = bits.uniform() < 0.3 ? 0 : bits.uniform(0, 4); break;  // unnormalized
      }
      total += q[col];
    }
    for (std::size_t col = 0; col < c.cols; ++col) {
      const double value = (c.style1 % 4 == 3 || total <= 0) ? q[col] : q[col] / total;
      c.values1[r * c.in1.stride + col] = static_cast<float>(value);
    }
  }
  const int overrides = in.byte() % 4;
  for (int i = 0; i < overrides; ++i) {
    const std::uint16_t where = in.u16();
    const int kind = in.byte();
    if (c.rows == 0 || c.cols == 0) continue;
    const std::size_t r = where % c.rows, col = (where / c.rows) % c.cols;
    // SPEC: target rows are distributions; any finite value >= 0 keeps the formulas meaningful.
    const float value = std::fabs(value_of_kind(kind, bits));
    c.values1[r * c.in1.stride + col] = std::isfinite(value) ? std::fmin(value, 4.0f) : 0.0f;
  }
}

fuzz_case parse(const std::uint8_t* data, std::size_t size) {
  byte_reader in(data, size);
  fuzz_case c;
  c.op = in.byte() % op_count;
  const std::uint8_t rows_byte = in.byte();
  c.rows = (rows_byte & 0x80) ? (rows_byte & 0x3f) : rows_byte % 5;
  const std::uint16_t cols_word = in.u16();
  const std::size_t raw = cols_word >> 3;
  switch (cols_word & 7) {
    case 0: case 1: case 2: c.cols = 1 + raw % 40; break;
    case 3: c.cols = 1 + raw % 70; break;
    case 4: c.cols = raw % 1100; break;
    case 5: c.cols = 4090 + raw % 12; break;
    case 6: c.cols = 8185 + raw % 16; break;
    default: c.cols = raw % 8 == 0 ? size_max / 4 + 2 : 3 * 4096 + raw % 7; break;  // the first: overflow
  }
  if (c.cols > 2000 && c.rows > 3) c.rows = 1 + c.rows % 3;  // keep cases quick
  c.in0 = make_matrix_spec(c.rows, c.cols, in.byte());
  c.in1 = make_matrix_spec(c.rows, c.cols, in.byte());
  c.out = make_matrix_spec(c.rows, c.cols, in.byte());
  const std::uint8_t alias_byte = in.byte();
  c.alias = alias_byte % 8 < 5 ? alias_none : static_cast<int>(alias_byte >> 3) % alias_count;
  // Keep only the aliasings this operation has.
  const bool applies[alias_count] = {true,
                                     has_matrix_output(c.op),
                                     is_backward(c.op),
                                     has_matrix_output(c.op),
                                     has_matrix_output(c.op) || c.op == op_logsumexp,
                                     is_cross_entropy(c.op) || c.op == op_logsumexp};
  if (!applies[c.alias]) c.alias = alias_none;
  // A shifted output overlaps the first input only when that spans more than one element.
  if (c.alias == alias_shifted && c.in0.elements <= 1) c.alias = alias_none;
  const std::uint8_t null_byte = in.byte();
  c.null_pointer = null_byte % 16 == 15 ? (null_byte >> 4) % 4 : -1;

  const std::uint8_t exec_byte = in.byte();
  c.exec_null = exec_byte % 8 == 7;
  c.threads = static_cast<int>((exec_byte >> 3) % 6) - 1;
  c.isa = isa_choices[in.byte() % isa_choice_count];
  const std::uint8_t pool_byte = in.byte();
  c.pool_mode = pool_byte % 4 == 3 ? 1 + (pool_byte >> 2) % 2 : 0;
  c.pool_seed = in.u32();

  // Options (cross-entropy only).
  softxent_cross_entropy_options_init(&c.options);
  const std::uint8_t options_byte = in.byte();
  c.options_null = options_byte % 8 == 0;
  if (!c.options_null) {
    const int reduction = in.byte() % 7;
    // An invalid reduction: 3 (inside the enum's range of values) or 1000 (legal for a C caller,
    // outside the C++ enum's range: the library must not load it as the enum, defect D6).
    const int invalid = (options_byte >> 3) % 2 ? 1000 : 3;
    c.reduction_raw = reduction < 6 ? reduction % 3 : invalid;
    std::memcpy(&c.options.reduction, &c.reduction_raw, sizeof c.reduction_raw);
    const int ignore = in.byte() % 4;
    c.options.ignore_index = ignore == 0 ? -100 : ignore == 1 ? 0 : ignore == 2 ? static_cast<std::int64_t>(c.cols) - 1 : -1;
    static const float smoothings[] = {0, 0, 0, 0.1f, 0.5f, 1, -0.25f, 1.5f, NAN, 0.03125f};
    c.options.label_smoothing = smoothings[in.byte() % 10];
    static const float z_losses[] = {0, 0, 0, 0, 1e-4f, 0.5f, -1, NAN, INFINITY};
    c.options.z_loss = z_losses[in.byte() % 9];
    c.weight_kind = in.byte() % 9;
  }

  // Targets.
  random_bits bits{in.u32() | (static_cast<std::uint64_t>(in.u32()) << 32)};
  c.targets.resize(c.rows);
  for (std::size_t r = 0; r < c.rows; ++r) {
    const std::uint8_t t = in.byte();
    const std::uint64_t pick = bits.next();
    const std::size_t cols = std::max<std::size_t>(c.cols, 1);
    switch (t % 16) {
      case 12: case 13: c.targets[r] = c.options.ignore_index; break;
      case 14: c.targets[r] = (t >> 4) % 2 ? static_cast<std::int64_t>(c.cols) : -1; break;
      case 15: c.targets[r] = (t >> 4) % 2 ? std::numeric_limits<std::int64_t>::min() : std::numeric_limits<std::int64_t>::max(); break;
      default: c.targets[r] = static_cast<std::int64_t>(pick % cols); break;
    }
  }

  // Class weights: none, positive, with zeros, all zero, or one bad value (negative, NaN, infinite).
  if (!c.options_null && c.weight_kind >= 4 && c.cols <= (std::size_t{1} << 20)) {
    c.weights.resize(c.cols);
    for (std::size_t col = 0; col < c.cols; ++col) {
      float w = static_cast<float>(bits.uniform(0, 3));
      if (c.weight_kind == 5 && bits.next() % 3 == 0) w = 0;
      if (c.weight_kind == 6) w = 0;
      c.weights[col] = w;
    }
    if (c.weight_kind >= 7 && c.cols > 0) {
      static const float bad[] = {-1.0f, NAN, INFINITY, -0.5f};
      c.weights[bits.next() % c.cols] = bad[bits.next() % 4];
      if (c.weight_kind == 8) c.weights.assign(c.cols, 1.0f);  // valid after all: all ones
    }
    c.options.class_weights = c.weights.data();
  }

  // Values.
  c.style0 = in.byte() % 8;
  c.style1 = in.byte() % 4;
  if (c.alias == alias_shifted && !c.in0.overflow) ++c.in0.elements;  // room for the shifted output
  c.values0.assign(c.in0.elements, 0);
  c.values1.assign(has_second_input(c.op) ? c.in1.elements : 0, 0);
  if (c.in0.overflow || c.in1.overflow || c.out.overflow) return c;  // never read: the call must fail
  if (c.cols > (std::size_t{1} << 24)) return c;  // rows == 0 with a huge cols: nothing to fill
  if (is_backward(c.op)) {
    fill_backward(c, bits, in);
  } else {
    fill_logits(c.values0, c, c.in0, c.style0, bits, in);
    if (is_soft(c.op)) fill_probabilities(c, bits, in);
  }
  return c;
}

std::string describe(const fuzz_case& c) {
  std::ostringstream s;
  s << operation_names[c.op] << " rows=" << c.rows << " cols=" << c.cols << " strides=" << c.in0.stride;
  if (has_second_input(c.op)) s << "/" << c.in1.stride;
  if (has_matrix_output(c.op)) s << "/" << c.out.stride;
  s << " alias=" << c.alias << " null=" << c.null_pointer;
  if (c.exec_null) s << " exec=NULL";
  else s << " threads=" << c.threads << " isa=" << (c.isa ? c.isa : "NULL") << " pool=" << c.pool_mode;
  if (is_cross_entropy(c.op)) {
    if (c.options_null) s << " options=NULL";
    else
      s << " reduction=" << c.reduction_raw << " ignore=" << c.options.ignore_index
        << " smoothing=" << c.options.label_smoothing << " z=" << c.options.z_loss << " weights=" << c.weight_kind;
    if (!is_soft(c.op)) {
      s << " targets=[";
      for (std::size_t r = 0; r < c.targets.size() && r < 8; ++r) s << (r ? "," : "") << c.targets[r];
      s << (c.targets.size() > 8 ? ",...]" : "]");
    }
  }
  s << " style=" << c.style0 << "/" << c.style1;
  return s.str();
}

// What the status of a call must be, from the case alone.
struct status_expectation {
  std::vector<softxent_status> definite;  // errors the call certainly has
  std::vector<softxent_status> maybe;     // errors the contract leaves open (e.g. shapes when rows == 0)
};

bool isa_known(const char* isa) {
  if (isa == nullptr) return true;
  static const char* const known[] = {"auto", "reference", "scalar", "sse2", "avx2", "avx512", "neon"};
  for (const char* name : known)
    if (std::strcmp(name, isa) == 0) return true;
  return false;
}

status_expectation expect_status(const fuzz_case& c) {
  status_expectation e;
  auto add = [&](bool definite, softxent_status s) { (definite ? e.definite : e.maybe).push_back(s); };
  const bool rows = c.rows > 0;
  // exec
  if (!c.exec_null) {
    if (c.threads < 0) add(true, SOFTXENT_ERROR_INVALID_OPTION);
    if (!isa_known(c.isa)) add(true, SOFTXENT_ERROR_INVALID_OPTION);
    else {
      softxent_exec probe{};
      probe.threads = 1;
      probe.isa = c.isa;
      if (softxent_isa(&probe) == nullptr) add(true, SOFTXENT_ERROR_UNSUPPORTED_ISA);
    }
  }
  // options
  if (is_cross_entropy(c.op) && !c.options_null) {
    const softxent_cross_entropy_options& o = c.options;
    if (c.reduction_raw < 0 || c.reduction_raw > 2) add(true, SOFTXENT_ERROR_INVALID_OPTION);
    if (!(o.label_smoothing >= 0 && o.label_smoothing <= 1)) add(true, SOFTXENT_ERROR_INVALID_OPTION);
    if (!(o.z_loss >= 0 && std::isfinite(o.z_loss))) add(true, SOFTXENT_ERROR_INVALID_OPTION);
    bool bad_weight = false;
    for (float w : c.weights) bad_weight = bad_weight || !(w >= 0 && std::isfinite(w));
    if (bad_weight) add(rows, SOFTXENT_ERROR_INVALID_OPTION);  // rows == 0: the weights may go unread
  }
  // pointers, shapes, targets, overlaps: only checked when rows > 0
  if (c.null_pointer >= 0) add(rows, SOFTXENT_ERROR_NULL_POINTER);
  const bool output_is_matrix = has_matrix_output(c.op);
  bool shape_bad = c.cols == 0 || c.cols > size_max / 4;
  auto stride_bad = [&](const matrix_spec& m) { return m.stride < c.cols || m.overflow; };
  shape_bad = shape_bad || stride_bad(c.in0);
  if (has_second_input(c.op)) shape_bad = shape_bad || stride_bad(c.in1);
  // The matrix output has its own stride unless it is placed in the first or second input.
  if (output_is_matrix && (c.alias == alias_none || c.alias == alias_loss_in_input))
    shape_bad = shape_bad || stride_bad(c.out);
  if (shape_bad) add(rows && c.null_pointer < 0, SOFTXENT_ERROR_INVALID_SHAPE);
  if (shape_bad && c.null_pointer >= 0) add(false, SOFTXENT_ERROR_INVALID_SHAPE);
  if (c.op == op_cross_entropy_loss || c.op == op_cross_entropy_grad) {
    for (std::int64_t t : c.targets) {
      const bool valid = t == c.options.ignore_index || (t >= 0 && static_cast<std::uint64_t>(t) < c.cols);
      const bool options_default_ignore = c.options_null && t == -100;
      if (!valid && !options_default_ignore) {
        add(rows && !shape_bad && c.null_pointer != 1, SOFTXENT_ERROR_INVALID_TARGET);
        break;
      }
    }
  }
  const bool overlaps = (c.alias == alias_other_stride && output_is_matrix) ||
                        (c.alias == alias_shifted && (output_is_matrix || c.op == op_logsumexp)) ||
                        (c.alias == alias_loss_in_input && (is_cross_entropy(c.op) || c.op == op_logsumexp));
  if (overlaps) add(rows && !shape_bad, SOFTXENT_ERROR_OVERLAP);
  return e;
}

// The buffers of one call, made fresh from the case so that every call starts from the same state.
struct call_buffers {
  std::vector<float> in0, in1, out, loss;
  std::vector<std::int64_t> targets;
  const float* in0_ptr = nullptr;
  const float* in1_ptr = nullptr;
  float* out_ptr = nullptr;
  std::size_t out_stride = 0;
  float* loss_ptr = nullptr;
  const std::int64_t* targets_ptr = nullptr;
  // Where the matrix output's values end up (the first input when in place).
  const std::vector<float>* result = nullptr;
};

constexpr std::uint32_t sentinel_bits = 0x7fa5a5a5u;  // a NaN no arithmetic produces
float sentinel() {
  float f;
  std::memcpy(&f, &sentinel_bits, sizeof f);
  return f;
}

std::size_t loss_count(const fuzz_case& c) {
  if (c.op == op_logsumexp) return c.rows;
  const int reduction = c.options_null ? 0 : c.reduction_raw;
  return reduction == 2 ? c.rows : 1;
}

void make_buffers(const fuzz_case& c, call_buffers& b) {
  b.in0 = c.values0;
  b.in1 = c.values1;
  b.out.assign(has_matrix_output(c.op) ? c.out.elements : 0, sentinel());
  b.loss.assign(std::max<std::size_t>(loss_count(c), 1), sentinel());
  b.targets = c.targets;
  b.in0_ptr = b.in0.data();
  b.in1_ptr = b.in1.data();
  b.out_ptr = b.out.data();
  b.out_stride = c.out.stride;
  b.loss_ptr = b.loss.data();
  b.targets_ptr = b.targets.data();
  b.result = &b.out;
  switch (c.alias) {
    case alias_in_place:
      if (has_matrix_output(c.op)) {
        b.out_ptr = b.in0.data();
        b.out_stride = c.in0.stride;
        b.result = &b.in0;
      }
      break;
    case alias_in_place_second:
      if (is_backward(c.op)) {
        b.out_ptr = b.in1.data();
        b.out_stride = c.in1.stride;
        b.result = &b.in1;
      }
      break;
    case alias_other_stride:
      if (has_matrix_output(c.op)) {
        b.out_ptr = b.in0.data();
        b.out_stride = c.in0.stride + 1;
      }
      break;
    case alias_shifted:
      if (has_matrix_output(c.op) && !b.in0.empty()) {
        b.out_ptr = b.in0.data() + 1;
        b.out_stride = c.in0.stride;
      } else if (c.op == op_logsumexp && !b.in0.empty()) {
        b.loss_ptr = b.in0.data() + 1;
      }
      break;
    case alias_loss_in_input:
      if ((is_cross_entropy(c.op) || c.op == op_logsumexp) && !b.in0.empty()) b.loss_ptr = b.in0.data() + b.in0.size() / 2;
      break;
    default: break;
  }
  // A needed pointer passed as NULL: 0 first input, 1 targets / second input, 2 output, 3 loss / lse.
  switch (c.null_pointer) {
    case 0: b.in0_ptr = nullptr; break;
    case 1:
      if (has_second_input(c.op)) b.in1_ptr = nullptr;
      else if (c.op == op_cross_entropy_loss || c.op == op_cross_entropy_grad) b.targets_ptr = nullptr;
      else b.in0_ptr = nullptr;
      break;
    case 2:  // grad is optional (NULL: loss only), the loss is not
      if (has_matrix_output(c.op) && !is_cross_entropy(c.op)) b.out_ptr = nullptr;
      else b.loss_ptr = nullptr;
      break;
    case 3:
      if (c.op == op_logsumexp || is_cross_entropy(c.op)) b.loss_ptr = nullptr;
      else b.out_ptr = nullptr;
      break;
    default: break;
  }
}

softxent_status call(const fuzz_case& c, call_buffers& b, const softxent_exec* exec) {
  const std::size_t rows = c.rows, cols = c.cols;
  const softxent_cross_entropy_options* options = c.options_null ? nullptr : &c.options;
  const bool grad = wants_grad(c.op);
  switch (c.op) {
    case op_logsumexp: return softxent_logsumexp_f32(rows, cols, b.in0_ptr, c.in0.stride, b.loss_ptr, exec);
    case op_softmax: return softxent_softmax_f32(rows, cols, b.in0_ptr, c.in0.stride, b.out_ptr, b.out_stride, exec);
    case op_log_softmax:
      return softxent_log_softmax_f32(rows, cols, b.in0_ptr, c.in0.stride, b.out_ptr, b.out_stride, exec);
    case op_softmax_backward:
      return softxent_softmax_backward_f32(rows, cols, b.in0_ptr, c.in0.stride, b.in1_ptr, c.in1.stride, b.out_ptr,
                                           b.out_stride, exec);
    case op_log_softmax_backward:
      return softxent_log_softmax_backward_f32(rows, cols, b.in0_ptr, c.in0.stride, b.in1_ptr, c.in1.stride,
                                               b.out_ptr, b.out_stride, exec);
    case op_cross_entropy_loss:
    case op_cross_entropy_grad:
      return softxent_cross_entropy_f32(rows, cols, b.in0_ptr, c.in0.stride, b.targets_ptr, options, b.loss_ptr,
                                        grad ? b.out_ptr : nullptr, b.out_stride, exec);
    default:
      return softxent_cross_entropy_soft_f32(rows, cols, b.in0_ptr, c.in0.stride, b.in1_ptr, c.in1.stride, options,
                                             b.loss_ptr, grad ? b.out_ptr : nullptr, b.out_stride, exec);
  }
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// After an error: every buffer exactly as before the call.
std::string check_untouched(const fuzz_case& c, const call_buffers& b, const char* who) {
  std::string problems;
  if (!same_bits(b.in0, c.values0)) problems += std::string(who) + ": first input written\n";
  if (!same_bits(b.in1, c.values1)) problems += std::string(who) + ": second input written\n";
  for (float v : b.out)
    if (std::memcmp(&v, &sentinel_bits, 4) != 0) { problems += std::string(who) + ": output written\n"; break; }
  for (float v : b.loss)
    if (std::memcmp(&v, &sentinel_bits, 4) != 0) { problems += std::string(who) + ": loss/lse written\n"; break; }
  return problems;
}

// After success: the values against the exact formulas; nothing written outside the outputs.
std::string check_values(const fuzz_case& c, const call_buffers& b, const char* who) {
  std::string problems;
  const std::string prefix = std::string(who) + " ";
  const std::size_t rows = c.rows, cols = c.cols;
  const matrix_in x{c.values0.data(), rows, cols, c.in0.stride};
  const matrix_in second{c.values1.data(), rows, cols, c.in1.stride};
  if (rows == 0) return check_untouched(c, b, who);
  // Inputs that are not outputs stay as they were.
  if (b.result != &b.in0 && !same_bits(b.in0, c.values0)) problems += prefix + "first input written\n";
  if (b.result != &b.in1 && !same_bits(b.in1, c.values1)) problems += prefix + "second input written\n";
  // Gaps between rows of the matrix output stay as they were.
  if (has_matrix_output(c.op)) {
    const std::vector<float>& result = *b.result;
    const std::vector<float>* before = b.result == &b.in0 ? &c.values0 : b.result == &b.in1 ? &c.values1 : nullptr;
    bool gap_written = false;
    for (std::size_t r = 0; r + 1 < rows && !gap_written; ++r) {
      for (std::size_t col = cols; col < b.out_stride && !gap_written; ++col) {
        const std::size_t i = r * b.out_stride + col;
        gap_written = std::memcmp(&result[i], before ? static_cast<const void*>(&(*before)[i]) : &sentinel_bits, 4) != 0;
      }
    }
    if (gap_written) problems += prefix + "wrote into the gap between rows\n";
  }
  switch (c.op) {
    case op_logsumexp: problems += compare((prefix + "lse").c_str(), b.loss.data(), rows, 1, 1, softxent_reliability::expect_logsumexp(x)); break;
    case op_softmax: problems += compare((prefix + "softmax").c_str(), b.result->data(), rows, cols, b.out_stride, softxent_reliability::expect_softmax(x)); break;
    case op_log_softmax: problems += compare((prefix + "log_softmax").c_str(), b.result->data(), rows, cols, b.out_stride, softxent_reliability::expect_log_softmax(x)); break;
    case op_softmax_backward: problems += compare((prefix + "dx").c_str(), b.result->data(), rows, cols, b.out_stride, softxent_reliability::expect_softmax_backward(x, second)); break;
    case op_log_softmax_backward: problems += compare((prefix + "dx").c_str(), b.result->data(), rows, cols, b.out_stride, softxent_reliability::expect_log_softmax_backward(x, second)); break;
    default: {
      const softxent_reliability::cross_entropy_expectation e = softxent_reliability::expect_cross_entropy(
          x, is_soft(c.op) ? nullptr : c.targets.data(), is_soft(c.op) ? &second : nullptr,
          c.options_null ? nullptr : &c.options);
      problems += compare((prefix + "loss").c_str(), b.loss.data(), 1, e.loss.size(), e.loss.size(), e.loss);
      if (wants_grad(c.op)) problems += compare((prefix + "grad").c_str(), b.result->data(), rows, cols, b.out_stride, e.grad);
      else if (!b.out.empty()) problems += prefix + "loss-only call had an output\n";
    }
  }
  return problems;
}

std::string check_same_bits(const fuzz_case& c, const call_buffers& a, const call_buffers& b, const char* what) {
  std::string problems;
  if (!same_bits(a.loss, b.loss)) problems += std::string(what) + ": loss/lse bits differ\n";
  if (has_matrix_output(c.op))
    problems += compare_bits(what, a.result->data(), b.result->data(), c.rows, c.cols, a.out_stride);
  return problems;
}

bool contains(const std::vector<softxent_status>& list, softxent_status s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

std::string run_case(const fuzz_case& c) {
  std::ostringstream problems;
  softxent_exec exec{};
  exec.threads = c.threads;
  exec.isa = c.isa;
  pool_state pool{c.pool_mode, c.pool_seed, 0};
  if (c.pool_mode != 0) {
    exec.parallel_for = fake_parallel_for;
    exec.pool = &pool;
  }
  const softxent_exec* exec_ptr = c.exec_null ? nullptr : &exec;

  call_buffers tested;
  make_buffers(c, tested);
  const softxent_status status = call(c, tested, exec_ptr);
  if (pool.calls > 1) problems << "parallel_for called " << pool.calls << " times in one call\n";

  // The status the case asks for.
  const status_expectation want = expect_status(c);
  std::vector<softxent_status> distinct = want.definite;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  if (distinct.empty() && want.maybe.empty() && status != SOFTXENT_OK)
    problems << "valid call failed with " << softxent_status_string(status) << "\n";
  if (distinct.empty() && !want.maybe.empty() && status != SOFTXENT_OK && !contains(want.maybe, status))
    problems << "call failed with " << softxent_status_string(status) << ", not a status this case may have\n";
  if (!distinct.empty() && status == SOFTXENT_OK) problems << "invalid call succeeded\n";
  if (distinct.size() == 1 && status != distinct[0] && !contains(want.maybe, status))
    problems << "got " << softxent_status_string(status) << ", expected " << softxent_status_string(distinct[0]) << "\n";

  // The reference, with the same exec checks but the reference ISA.
  softxent_exec reference_exec{};
  reference_exec.threads = c.exec_null ? 0 : c.threads;
  reference_exec.isa = "reference";
  call_buffers reference;
  make_buffers(c, reference);
  const softxent_status reference_status = call(c, reference, &reference_exec);
  const bool isa_error = !c.exec_null && (!isa_known(c.isa) || contains(want.definite, SOFTXENT_ERROR_UNSUPPORTED_ISA));
  if (!isa_error && reference_status != status)
    problems << "status " << softxent_status_string(status) << " but the reference gives "
             << softxent_status_string(reference_status) << "\n";

  if (status != SOFTXENT_OK) {
    problems << check_untouched(c, tested, "after an error");
  } else {
    problems << check_values(c, tested, "tested");
    // Bitwise identical across thread counts and pool groupings (same ISA).
    softxent_exec other = exec;
    other.parallel_for = nullptr;
    other.pool = nullptr;
    other.threads = (c.threads == 1) ? 2 : 1;
    call_buffers again;
    make_buffers(c, again);
    if (call(c, again, c.exec_null ? nullptr : &other) != SOFTXENT_OK) problems << "second run failed\n";
    else problems << check_same_bits(c, tested, again, "threads changed the bits");
    pool_state other_pool{c.pool_mode == 1 ? 2 : 1, c.pool_seed ^ 0x5555, 0};
    other.threads = 2;
    other.parallel_for = fake_parallel_for;
    other.pool = &other_pool;
    if (!c.exec_null) {
      call_buffers pooled;
      make_buffers(c, pooled);
      if (call(c, pooled, &other) != SOFTXENT_OK) problems << "pooled run failed\n";
      else problems << check_same_bits(c, tested, pooled, "the pool's grouping changed the bits");
      if (other_pool.calls > 1) problems << "parallel_for called " << other_pool.calls << " times in one call\n";
    }
  }
  if (reference_status == SOFTXENT_OK) problems << check_values(c, reference, "reference");
  if (reference_status != SOFTXENT_OK) problems << check_untouched(c, reference, "reference after an error");
  return problems.str();
}

// Defects found by this fuzzer and reported, not fixed yet: their symptoms are tolerated (unless
// SOFTXENT_FUZZ_STRICT=1) so that fuzzing goes on finding new ones. Each has a regression test in
// tests/reliability/test_regressions.cpp; remove its entry here when it is fixed.
struct known_defect {
  const char* name;
  const char* symptom_prefix;  // the problem lines it explains
  bool (*applies)(const fuzz_case& c);
};

// D1, D2, D4, D5 and D10 were listed here until their fixes (commits d56cf86 and f53b48d); see
// test_regressions.cpp.
const std::vector<known_defect> known_defects = {};

// Drops the problem lines a known defect explains; "" when nothing else is left.
std::string without_known_defects(const fuzz_case& c, const std::string& problems) {
  const char* strict = std::getenv("SOFTXENT_FUZZ_STRICT");
  if (strict != nullptr && strict[0] == '1') return problems;
  std::istringstream lines(problems);
  std::string line, kept;
  while (std::getline(lines, line)) {
    bool explained = false;
    for (const known_defect& d : known_defects)
      explained = explained || (line.rfind(d.symptom_prefix, 0) == 0 && d.applies(c));
    if (!explained) kept += line + "\n";
  }
  return kept;
}

}  // namespace

std::string describe_case(const std::uint8_t* data, std::size_t size) { return describe(parse(data, size)); }

std::string dump_case(const std::uint8_t* data, std::size_t size) {
  const fuzz_case c = parse(data, size);
  std::ostringstream s;
  s.precision(9);
  s << describe(c) << "\n";
  if (c.in0.overflow || c.in1.overflow || c.out.overflow) return s.str();
  for (int which = 0; which < 2; ++which) {
    const std::vector<float>& v = which == 0 ? c.values0 : c.values1;
    const std::size_t stride = which == 0 ? c.in0.stride : c.in1.stride;
    if (v.empty()) continue;
    for (std::size_t r = 0; r < c.rows; ++r) {
      s << (which == 0 ? "first" : "second") << "[" << r << "] =";
      for (std::size_t col = 0; col < c.cols; ++col) s << " " << v[r * stride + col];
      s << "\n";
    }
  }
  if (!c.weights.empty()) {
    s << "weights =";
    for (float w : c.weights) s << " " << w;
    s << "\n";
  }
  return s.str();
}

std::string check_case(const std::uint8_t* data, std::size_t size) {
  const fuzz_case c = parse(data, size);
  std::string problems = without_known_defects(c, run_case(c));
  if (problems.empty()) return problems;
  return "case: " + describe(c) + "\n" + problems;
}

}  // namespace softxent_fuzz
