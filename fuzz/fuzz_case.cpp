// See fuzz_case.hpp. The byte layout is read front to back; missing bytes read as 0, so every input,
// even empty, is a valid case, and zeros mean the plain float call without options.
//
// Layout: op slot, rows, cols (2), strides of the first input, second input and matrix output (3),
// aliasing, NULL pointer, exec (threads), ISA, pool, pool seed (4); then the element types and
// options (case_extension below, 14 bytes); for top-k and sampling alone their options
// (read_selection, 7 bytes), for the linear cross-entropy alone its shape and buffers (read_linear,
// 5 bytes); then the cross-entropy options, the value seed (8), one byte per target,
// two value styles and the value overrides.
#include "fuzz_case.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <sstream>

#include "oracle/oracle.hpp"

namespace softxent_fuzz {
namespace {

using softxent_oracle::dtype_name;
using softxent_oracle::dtype_size;
using softxent_oracle::valid_dtype;

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

// The first byte picks a slot: the operation and, for cross-entropy, whether it computes a gradient.
// Slots 0-8 keep the operations of the corpus written before the generic calls, 9-10 those written
// before top-k and sampling, 11-12 those written before the linear cross-entropy.
struct op_slot {
  int op;
  bool with_grad;
};
constexpr op_slot op_slots[16] = {
    {op_logsumexp, false},           {op_softmax, false},
    {op_log_softmax, false},         {op_softmax_backward, false},
    {op_log_softmax_backward, false}, {op_cross_entropy, false},
    {op_cross_entropy, true},        {op_cross_entropy_soft, false},
    {op_cross_entropy_soft, true},   {op_cross_entropy_sharded, false},
    {op_cross_entropy_sharded, true},
    {op_top_k, false},               {op_sample, false},
    {op_linear_cross_entropy, true},
    // Free for calls still to land; until then more of the cases with the most options.
    {op_cross_entropy_sharded, true}, {op_logsumexp, false}};

const char* const isa_choices[] = {nullptr, "auto", "reference", "scalar", "sse2", "avx2", "avx512", "neon", "bogus"};
constexpr int isa_choice_count = sizeof(isa_choices) / sizeof(isa_choices[0]);

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
    case 8: return not_a_number;
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

// An operand's element type from a byte: mostly F32, then F16 and BF16, and values outside the enum.
int dtype_of_byte(std::uint8_t b) {
  const int choice = b % 16;
  if (choice < 7) return SOFTXENT_F32;
  if (choice < 11) return SOFTXENT_F16;
  if (choice < 15) return SOFTXENT_BF16;
  static const int invalid[] = {3, -1, 1000, 7};
  return invalid[(b >> 4) % 4];
}

// short_stride: the stride too short for the call (cols - 1; sharded: one less than the widest shard).
matrix_spec make_matrix_spec(std::size_t rows, std::size_t cols, std::uint8_t stride_byte, int dtype,
                             std::size_t short_stride) {
  matrix_spec spec;
  spec.dtype = dtype;
  const std::size_t size = dtype_size(dtype);
  const int choice = stride_byte % 16;
  if (choice < 10) spec.stride = cols;
  else if (choice < 14) spec.stride = cols + 1 + (stride_byte >> 4) % 5;
  else if (choice == 14) spec.stride = short_stride;
  else spec.stride = size_max / size + 1 + (stride_byte >> 4);  // the byte count overflows
  if (rows == 0) {
    spec.elements = 0;
  } else if (span_overflows(rows, cols, spec.stride, size)) {
    spec.overflow = true;
    spec.elements = 1;
  } else {
    spec.elements = std::max<std::size_t>((rows - 1) * spec.stride + cols, 1);  // never a NULL data()
  }
  if (spec.elements > (std::size_t{1} << 24)) {  // never seen: the shapes below are small or overflow
    spec.overflow = true;
    spec.elements = 1;
  }
  return spec;
}

// Explicit values: a count byte (mod limit), then per value its place (2 bytes), its kind and, with
// `extra`, one more byte; set(r, col, kind, extra byte) stores each (none when the matrix is empty).
template <class Set>
void read_overrides(byte_reader& in, const fuzz_case& c, int limit, bool extra, const Set& set) {
  const int overrides = in.byte() % limit;
  for (int i = 0; i < overrides; ++i) {
    const std::uint16_t where = in.u16();
    const int kind = in.byte();
    const std::uint8_t more = extra ? in.byte() : 0;
    if (c.rows == 0 || c.cols == 0) continue;
    set(where % c.rows, (where / c.rows) % c.cols, kind, more);
  }
}

// Fills a rows x cols matrix (stride) of logits: a style for the bulk, then explicit overrides.
void fill_logits(std::vector<float>& v, const fuzz_case& c, const matrix_spec& spec, int style, random_bits& bits,
                 byte_reader& in) {
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = not_a_number;  // gaps
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
  read_overrides(in, c, 8, false, [&](std::size_t r, std::size_t col, int kind, std::uint8_t) {
    v[r * spec.stride + col] = value_of_kind(kind, bits);
  });
}

// Inputs of the backward operations: y of the forward operation (or arbitrary), and dy.
void fill_backward(fuzz_case& c, random_bits& bits, byte_reader& in) {
  const bool log_form = c.op == op_log_softmax_backward;
  std::fill(c.values0.begin(), c.values0.end(), not_a_number);
  std::fill(c.values1.begin(), c.values1.end(), not_a_number);
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
  read_overrides(in, c, 8, true, [&](std::size_t r, std::size_t col, int kind, std::uint8_t which) {
    const bool second = which & 1;
    float value = value_of_kind(bounded_kind(kind), bits);
    if (log_form && !second && value > 2) value = 2;  // exp(y) must not overflow a float
    (second ? c.values1[r * c.in1.stride + col] : c.values0[r * c.in0.stride + col]) = value;
  });
}

void fill_probabilities(fuzz_case& c, random_bits& bits, byte_reader& in) {
  std::fill(c.values1.begin(), c.values1.end(), not_a_number);
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
  read_overrides(in, c, 4, false, [&](std::size_t r, std::size_t col, int kind, std::uint8_t) {
    // SPEC: target rows are distributions; any finite value >= 0 keeps the formulas meaningful.
    const float value = std::fabs(value_of_kind(kind, bits));
    c.values1[r * c.in1.stride + col] = std::isfinite(value) ? std::fmin(value, 4.0f) : 0.0f;
  });
}

// Stores values in their dtype (rounded to nearest even; an invalid dtype as float), and replaces
// them by what was stored, decoded.
void encode_values(std::vector<float>& values, int dtype, std::vector<unsigned char>& bytes) {
  const int stored = valid_dtype(dtype) ? dtype : SOFTXENT_F32;
  bytes.assign(values.size() * dtype_size(stored), 0);
  for (std::size_t i = 0; i < values.size(); ++i) {
    softxent_oracle::store_element(bytes.data(), stored, i, values[i]);
    values[i] = static_cast<float>(softxent_oracle::load_element(bytes.data(), stored, i));
  }
}

// The largest finite value of a dtype: mask values that would round to +inf are clamped to it
// (a +inf mask value is outside the contract; -inf masks).
float largest_finite(int dtype) {
  if (dtype == SOFTXENT_F16) return 65504.0f;
  if (dtype == SOFTXENT_BF16) return 0x1.fep127f;
  return float_max;
}

// The extension bytes of the layout: element types and the options of version 2.
struct case_extension {
  std::uint8_t dtype[3];        // first input, second input, matrix output
  std::uint8_t form;            // bit 0: the generic call even where the _f32 one exists
  std::uint8_t ce_transform;    // cross-entropy logit_scale and softcap
  std::uint8_t transform[2];    // softmax options: mode and scale; softcap and the invalid-value selector
  std::uint8_t mask[2];         // kind, dtype, rows; stride and a bad mask_rows
  std::uint8_t heads;           // rows_per_head, slopes
  std::uint8_t sinks;
  std::uint8_t valid_cols;
  std::uint8_t shards[2];       // count, fault, loss-only without logits; seed
};

case_extension read_extension(byte_reader& in) {
  // A braced list is evaluated in order: the bytes in the order of the fields.
  return {{in.byte(), in.byte(), in.byte()}, in.byte(), in.byte(), {in.byte(), in.byte()}, {in.byte(), in.byte()},
          in.byte(), in.byte(), in.byte(), {in.byte(), in.byte()}};
}

// Scale and softcap values (the last entry of each table is an invalid value picked by `selector`).
float scale_choice(int index, std::uint8_t selector) {
  static const float scales[16] = {1, 1, 1, 1, 1, 1, 0.125f, 0.5f, 2, 0.0883883476f, 30, 1e-3f, 3e30f, 1e-20f, 1.5f, 0};
  static const float invalid[4] = {0, -1, not_a_number, infinity};
  return index == 15 ? invalid[selector % 4] : scales[index];
}
float softcap_choice(int index, std::uint8_t selector) {
  static const float softcaps[16] = {0, 0, 0, 0, 0, 0, 0, 0, 30, 50, 5, 1, 1e-3f, 1e30f, -0.0f, 0};
  static const float invalid[4] = {-1, not_a_number, infinity, -infinity};
  return index == 15 ? invalid[(selector >> 2) % 4] : softcaps[index];
}

// Slopes or sinks: none for kinds 0-3, else value(head) for each head, and for kind 7 one of them
// invalid (NaN or infinite).
template <class Value>
std::vector<float> per_head_values(int kind, std::size_t heads, random_bits& bits, const Value& value) {
  std::vector<float> values;
  if (kind < 4) return values;
  for (std::size_t h = 0; h < heads; ++h) values.push_back(value(h));
  if (kind == 7) values[bits.below(heads)] = std::array<float, 3>{not_a_number, infinity, -infinity}[bits.below(3)];
  return values;
}

// The softmax options' values, drawn after the inputs' values.
void fill_transform(fuzz_case& c, const case_extension& e, random_bits& bits) {
  transform_case& t = c.transform;
  const std::uint8_t selector = static_cast<std::uint8_t>(e.transform[1] >> 4);
  t.mode = std::min(e.transform[0] % 4, 2);
  if (!t.set()) return;
  t.scale = scale_choice((e.transform[0] >> 2) % 16, selector);
  t.softcap = softcap_choice(e.transform[1] % 16, selector);
  // Per-head arrays: rows_per_head first.
  static const int per_head_modes[8] = {0, 0, 1, 2, 3, -1, -2, 4};  // -1: rows, -2: rows + 5
  const int per_head = per_head_modes[e.heads % 8];
  t.rows_per_head = per_head == -1 ? c.rows : per_head == -2 ? c.rows + 5 : static_cast<std::size_t>(per_head);
  const std::size_t heads = c.heads();
  t.slopes_kind = (e.heads >> 3) % 8;
  t.slopes = per_head_values(t.slopes_kind, heads, bits, [&](std::size_t h) {
    static const float special[] = {0, 1e4f, -1e4f, 1e-30f, 1e30f, -0.0f};
    switch (t.slopes_kind) {
      case 4: return std::exp2(-8.0f * static_cast<float>(h + 1) / static_cast<float>(heads));  // ALiBi
      case 6: return special[bits.below(6)];
      default: return static_cast<float>(2 * bits.normal());
    }
  });
  t.sinks_kind = e.sinks % 8;
  t.sinks = per_head_values(t.sinks_kind, heads, bits, [&](std::size_t) {
    static const float huge[] = {3e38f, -3e38f, float_max, -float_max, 0};
    const float sign = bits.next() & 1 ? 1.0f : -1.0f;
    switch (t.sinks_kind) {
      case 5: return sign * static_cast<float>(bits.uniform(50, 100));
      case 6: return huge[bits.below(5)];
      default: return static_cast<float>(3 * bits.normal());
    }
  });
  t.valid_kind = e.valid_cols % 8;
  if (t.valid_kind >= 4) {
    t.valid_cols.resize(std::max<std::size_t>(c.rows, 1));
    for (std::int64_t& v : t.valid_cols) {
      const std::size_t random = bits.below(c.cols + 1);
      v = static_cast<std::int64_t>(t.valid_kind == 5 ? 0 : t.valid_kind == 6 ? c.cols : random);
    }
    if (t.valid_kind == 7 && c.rows > 0) {
      const std::int64_t bad[] = {-1, static_cast<std::int64_t>(c.cols) + 1, std::numeric_limits<std::int64_t>::min(),
                                  std::numeric_limits<std::int64_t>::max()};
      t.valid_cols[bits.below(c.rows)] = bad[(e.valid_cols >> 3) % 4];
    }
  }
  // The mask: mask_rows x cols; without one its fields still hold garbage, which must be ignored.
  static const int mask_dtypes[8] = {SOFTXENT_F32, SOFTXENT_F32, SOFTXENT_F32, SOFTXENT_F16,
                                     SOFTXENT_F16, SOFTXENT_BF16, SOFTXENT_BF16, 3};
  t.mask_dtype = mask_dtypes[(e.mask[0] >> 3) % 8];
  const std::size_t mask_rows_choices[4] = {1, c.rows, 2, c.rows + 2};
  t.mask_rows = (e.mask[1] >> 3) % 8 == 7 ? 0 : mask_rows_choices[(e.mask[0] >> 6) % 4];
  const int stride_mode = e.mask[1] % 8;
  t.mask_stride = stride_mode < 5 ? c.cols : stride_mode == 5 ? c.cols + 1 : stride_mode == 6 ? c.cols + 3
                                                                                               : (c.cols > 0 ? c.cols - 1 : 0);
  t.mask_kind = e.mask[0] % 8 < 4 ? 0 : e.mask[0] % 8 - 3;
  if (t.mask_kind == 0 || c.cols > (std::size_t{1} << 16)) {
    t.mask_kind = 0;
    t.mask_rows = e.mask[1];  // garbage beside a NULL mask
    t.mask_dtype = 1000;
    return;
  }
  const std::size_t elements = std::max<std::size_t>(t.mask_rows == 0 ? 1 : (t.mask_rows - 1) * t.mask_stride + c.cols, 1);
  t.mask_values.assign(elements, not_a_number);
  const std::size_t offset = c.cols > t.mask_rows ? c.cols - t.mask_rows : 0;  // causal: queries at the end
  const float largest = largest_finite(t.mask_dtype);
  for (std::size_t r = 0; r < t.mask_rows; ++r) {
    const std::size_t padding = bits.below(c.cols + 1);
    for (std::size_t j = 0; j < c.cols; ++j) {
      float v = 0;
      switch (t.mask_kind) {
        case 1: v = bits.next() % 8 == 0 ? -infinity : static_cast<float>(3 * bits.normal()); break;  // a bias
        case 2: v = j <= r + offset ? 0.0f : -infinity; break;                                        // causal
        case 3: v = j < padding ? 0.0f : -infinity; break;  // padding (all masked when padding is 0)
        default: {
          const float sign = bits.next() & 1 ? 1.0f : -1.0f;
          const float extreme[] = {0, -infinity, 3e38f, float_max, 1e-40f, 65504, static_cast<float>(1e4 * bits.normal())};
          v = sign * extreme[bits.below(7)];
          if (v == infinity) v = -infinity;
        }
      }
      t.mask_values[r * t.mask_stride + j] = std::fmin(v, largest);
    }
  }
  encode_values(t.mask_values, t.mask_dtype, t.mask_bytes);
}

// The shards of a sharded case (before the strides, which depend on them).
void fill_shards(fuzz_case& c, const case_extension& e) {
  shard_case& s = c.shards;
  random_bits bits{c.pool_seed ^ (static_cast<std::uint64_t>(e.shards[1]) << 40) ^ e.shards[0]};
  s.total_cols = c.cols;
  s.finish_without_logits = (e.shards[0] & 0x80) != 0;
  const int fault_choice = (e.shards[0] >> 2) % 32;
  s.fault = fault_choice >= 28 ? fault_choice - 27 : 0;
  s.grouping = bits.next() ^ e.shards[1];
  std::size_t count = 1 + e.shards[0] % 4;
  if (c.cols < 2 || c.cols > (std::size_t{1} << 24)) count = 1;
  std::vector<std::size_t> cuts{0, c.cols};
  for (std::size_t i = 1; i < count; ++i) cuts.push_back(1 + (bits.next() ^ e.shards[1]) % (c.cols - 1));
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    s.offsets.push_back(cuts[i]);
    s.widths.push_back(cuts[i + 1] - cuts[i]);
  }
  if (s.offsets.empty()) {  // cols == 0: one empty shard
    s.offsets.push_back(0);
    s.widths.push_back(0);
  }
  switch (s.fault) {  // shard 0 made invalid; it is the only one called
    case 1: s.widths[0] = 0; break;                                    // no columns
    case 2: s.offsets[0] = 1; s.widths[0] = c.cols; break;               // past the last column
    case 3: s.total_cols = 0; s.offsets[0] = 0; s.widths[0] = c.cols; break;  // no classes at all
    case 4: s.offsets[0] = c.cols + 1; s.widths[0] = 1; break;           // starts past the end
    default: break;
  }
}

// Top-k's k and sampling's options: one byte each for k, the optional outputs with the options' form
// and the seeds' kind, temperature, top_k, top_p, min_p and the offset. Each table's last entries are
// the invalid values (a selector picks among them); cols-relative entries follow the row's length.
void read_selection(byte_reader& in, fuzz_case& c) {
  selection_case& s = c.selection;
  const std::size_t cols = c.cols;
  const std::uint8_t k_byte = in.byte(), form = in.byte(), temperature = in.byte(), top_k = in.byte(),
                     top_p = in.byte(), min_p = in.byte(), offset = in.byte();  // initialized in order
  const std::size_t spread = 1 + cols / 16 * (k_byte >> 4);  // in [1, cols]
  const std::size_t ks[16] = {1, 1, 2, 3, 5, 8, spread, cols, cols - 1, std::min<std::size_t>(cols, SOFTXENT_MAX_TOP_K),
                              64, SOFTXENT_MAX_TOP_K, 0, cols + 1, SOFTXENT_MAX_TOP_K + 1, size_max};
  s.k = c.op == op_top_k ? ks[k_byte % 16] : 1;
  s.log_probs_null = (form & 1) != 0;
  s.lse_null = (form & 2) != 0;
  s.options_mode = std::min((form >> 2) % 4, 2);
  s.seeds_kind = (form >> 4) % 8;
  softxent_sampling_options_init(&s.options);
  static const float temperatures[15] = {1, 1, 0, 0, 0.8f, 0.5f, 2, 0.7f, 1.3f, 0.25f, 1e-3f, 100, -0.0f, 1e-30f, 1e-40f};
  static const float bad_temperatures[4] = {-1, not_a_number, infinity, -infinity};
  s.options.temperature = temperature % 16 < 15 ? temperatures[temperature % 16] : bad_temperatures[(temperature >> 4) % 4];
  const std::size_t top_ks[16] = {0, 0, 0, 0, 1, 2, 3, 5, 40, cols - 1, cols, cols + 1, SOFTXENT_MAX_TOP_K,
                                  SOFTXENT_MAX_TOP_K + 1, size_max, 1 + cols / 16 * (top_k >> 4)};
  s.options.top_k = top_ks[top_k % 16];
  static const float top_ps[15] = {1, 1, 1, 0.9f, 0.5f, 0.95f, 0.99f, 0.1f, 1e-6f, 0.999f, 0.8f, 0.3f, 0x1p-149f,
                                   0.99999994f, 0.6f};
  static const float bad_top_ps[4] = {0, -0.5f, 1.5f, not_a_number};
  s.options.top_p = top_p % 16 < 15 ? top_ps[top_p % 16] : bad_top_ps[(top_p >> 4) % 4];
  static const float min_ps[15] = {0, 0, 0, 0.05f, 0.1f, 0.5f, 1, 1e-3f, 0.02f, 0.3f, 1e-30f, -0.0f, 0.9f, 0.2f, 0x1p-149f};
  static const float bad_min_ps[4] = {-0.1f, 1.5f, not_a_number, infinity};
  s.options.min_p = min_p % 16 < 15 ? min_ps[min_p % 16] : bad_min_ps[(min_p >> 4) % 4];
  const std::uint64_t step = offset >> 3;
  const std::uint64_t offsets[8] = {0, 0, step, 0xffffffffull, 1ull << 32, ~0ull, (1ull << 32) + step, step << 40};
  s.options.offset = offsets[offset % 8];
}

// One seed per row (at least one), drawn after the values: random, one for all rows, 0, all ones, the
// row's index.
void fill_seeds(fuzz_case& c, random_bits& bits) {
  selection_case& s = c.selection;
  const std::uint64_t shared = bits.next();
  s.seeds.resize(std::max<std::size_t>(c.rows, 1));
  for (std::size_t r = 0; r < s.seeds.size(); ++r) {
    switch (s.seeds_kind) {
      case 4: s.seeds[r] = shared; break;
      case 5: s.seeds[r] = 0; break;
      case 6: s.seeds[r] = ~0ull; break;
      case 7: s.seeds[r] = r; break;
      default: s.seeds[r] = bits.next(); break;
    }
  }
}

// The linear cross-entropy's shape and buffers: one byte each for hidden, classes (cols), the NULL
// pointers with grad_weight's start values, the workspace, and grad_weight's stride. Hidden or
// classes 0 is INVALID_SHAPE.
std::uint8_t read_linear(byte_reader& in, fuzz_case& c) {
  linear_case& l = c.linear;
  const std::uint8_t hidden = in.byte(), classes = in.byte(), flags = in.byte(), workspace = in.byte(),
                     stride = in.byte();  // initialized in order
  l.hidden = hidden % 48;
  c.cols = classes % 48;
  if (c.rows > 16) c.rows = 1 + c.rows % 16;  // keep the long double products quick
  l.bias_null = (flags & 1) != 0;
  l.grad_inputs_null = (flags & 2) != 0;
  l.grad_weight_null = (flags & 4) != 0;
  l.grad_bias_null = (flags & 8) != 0;
  static const int workspaces[8] = {workspace_exact,  workspace_exact, workspace_exact, workspace_misaligned,
                                    workspace_larger, workspace_short, workspace_null,  workspace_exact};
  l.workspace = workspaces[workspace % 8];
  l.start_kind = (flags >> 4) % 4;
  return stride;
}

// The linear cross-entropy's values, finite: inputs, weight and bias of normal values at a scale
// (style0) with some zeros, large or subnormal ones (style1); grad_weight's and grad_bias's start
// values (zeros, normal, large). Gaps hold NaN.
void fill_linear(fuzz_case& c, random_bits& bits) {
  linear_case& l = c.linear;
  static const float scales[8] = {1, 1, 0.3f, 2, 5, 0.01f, 20, 1e-20f};
  const double scale = scales[c.style0 % 8];
  const auto value = [&] {
    const std::uint64_t pick = bits.next() % 8;
    switch (c.style1 % 4) {
      case 1: if (pick < 2) return 0.0f; break;
      case 2: if (pick == 0) return (bits.next() & 1 ? -1 : 1) * static_cast<float>(bits.uniform(100, 1000)); break;
      case 3: if (pick < 2) return value_of_kind(9, bits); break;
      default: break;
    }
    return static_cast<float>(scale * bits.normal());
  };
  const auto fill = [&](std::vector<float>& v, std::size_t rows, const matrix_spec& spec, const auto& make) {
    std::fill(v.begin(), v.end(), not_a_number);
    if (spec.overflow) return;  // never read: the call must fail
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t k = 0; k < l.hidden; ++k) v[r * spec.stride + k] = make();
  };
  fill(c.values0, c.rows, c.in0, value);
  fill(c.values1, c.cols, c.in1, value);
  l.bias.resize(c.cols);
  for (float& b : l.bias) b = value();
  const auto start = [&] {
    switch (l.start_kind) {
      case 0: return 0.0f;
      case 2: return static_cast<float>(bits.uniform(-1e3, 1e3));
      default: return static_cast<float>(bits.normal());
    }
  };
  l.grad_weight_start.resize(l.grad_weight.elements);
  fill(l.grad_weight_start, c.cols, l.grad_weight, start);
  l.grad_bias_start.resize(c.cols);
  for (float& b : l.grad_bias_start) b = start();
}

}  // namespace

bool span_overflows(std::size_t rows, std::size_t cols, std::size_t stride, std::size_t element_size) {
  const std::size_t limit = size_max / element_size;
  return cols > limit || (rows > 1 && stride > (limit - cols) / (rows - 1));
}

fuzz_case parse(const std::uint8_t* data, std::size_t size) {
  byte_reader in(data, size);
  fuzz_case c;
  const op_slot slot = op_slots[in.byte() % 16];
  c.op = slot.op;
  c.with_grad = slot.with_grad;
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
    default: c.cols = raw % 8 == 0 ? size_max / 2 + 2 : 3 * 4096 + raw % 7; break;  // the first: overflow
  }
  if (c.cols > 2000 && c.rows > 3) c.rows = 1 + c.rows % 3;  // keep cases quick
  const std::uint8_t stride_bytes[3] = {in.byte(), in.byte(), in.byte()};  // braces: read in order
  const std::uint8_t alias_byte = in.byte();
  const std::uint8_t null_byte = in.byte();
  const std::uint8_t exec_byte = in.byte();
  c.exec_null = exec_byte % 8 == 7;
  c.threads = static_cast<int>((exec_byte >> 3) % 6) - 1;
  c.isa = isa_choices[in.byte() % isa_choice_count];
  const std::uint8_t pool_byte = in.byte();
  c.pool_mode = pool_byte % 4 == 3 ? 1 + (pool_byte >> 2) % 2 : 0;
  c.pool_seed = in.u32();
  const case_extension e = read_extension(in);
  if (c.has(trait_class_output)) read_selection(in, c);
  const std::uint8_t linear_stride = c.has(trait_linear) ? read_linear(in, c) : 0;

  // A stride too short (unless cols == 0); for shards, too short for the widest one only, since shards
  // of a row laid out with a stride below the row's length would overlap one another.
  std::size_t short_stride = c.cols > 0 ? c.cols - 1 : 0;
  if (c.op == op_cross_entropy_sharded) {
    fill_shards(c, e);
    short_stride = *std::max_element(c.shards.widths.begin(), c.shards.widths.end());
    if (short_stride > 0) --short_stride;
  }
  int dtypes[3];
  for (int i = 0; i < 3; ++i) dtypes[i] = c.has(trait_float_only) ? SOFTXENT_F32 : dtype_of_byte(e.dtype[i]);
  if (c.has(trait_linear)) {  // inputs, weight, grad_inputs and grad_weight: hidden columns
    const std::size_t hidden = c.linear.hidden, short_hidden = hidden > 0 ? hidden - 1 : 0;
    c.in0 = make_matrix_spec(c.rows, hidden, stride_bytes[0], SOFTXENT_F32, short_hidden);
    c.in1 = make_matrix_spec(c.cols, hidden, stride_bytes[1], SOFTXENT_F32, short_hidden);
    c.out = make_matrix_spec(c.rows, hidden, stride_bytes[2], SOFTXENT_F32, short_hidden);
    c.linear.grad_weight = make_matrix_spec(c.cols, hidden, linear_stride, SOFTXENT_F32, short_hidden);
  } else {
    c.in0 = make_matrix_spec(c.rows, c.cols, stride_bytes[0], dtypes[0], short_stride);
    c.in1 = make_matrix_spec(c.rows, c.cols, stride_bytes[1], dtypes[1], short_stride);
    c.out = make_matrix_spec(c.rows, c.cols, stride_bytes[2], dtypes[2], short_stride);
  }
  c.generic = (e.form & 1) != 0;
  c.alias = alias_byte % 8 < 5 ? alias_none : static_cast<int>(alias_byte >> 3) % alias_count;
  c.null_pointer = null_byte % 16 == 15 ? (null_byte >> 4) % 4 : -1;
  c.stats_null = (null_byte & 0x40) != 0;

  // Cross-entropy options.
  softxent_cross_entropy_options_init(&c.options);
  const std::uint8_t options_byte = in.byte();
  c.options_null = options_byte % 8 == 0;
  if (!c.options_null) {
    const int reduction = in.byte() % 7;
    // An invalid reduction: 3 (inside the enum's range of values) or 1000 (legal for a C caller,
    // outside the C++ enum's range: the library must not load it as the enum).
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
    if (e.ce_transform % 4 == 3) {  // the logit transform (mostly off)
      static const float scales[8] = {1, 0.5f, 2, 30, 1e-3f, 3e30f, 0.125f, 0};
      static const float softcaps[8] = {0, 0, 30, 5, 1e-3f, 1e30f, -0.0f, 0};
      const std::uint8_t selector = static_cast<std::uint8_t>(e.transform[1] >> 4);
      const int scale_index = (e.ce_transform >> 2) % 8, softcap_index = (e.ce_transform >> 5) % 8;
      c.options.logit_scale = scale_index == 7 ? scale_choice(15, selector) : scales[scale_index];
      c.options.softcap = softcap_index == 7 ? softcap_choice(15, selector) : softcaps[softcap_index];
    }
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
  c.values0.assign(c.in0.elements, 0);
  c.values1.assign(c.has(trait_second_input) || c.has(trait_linear) ? c.in1.elements : 0, 0);
  const bool fillable = !(c.in0.overflow || c.in1.overflow || c.out.overflow) && c.cols <= (std::size_t{1} << 24);
  if (c.has(trait_linear)) {
    fill_linear(c, bits);
  } else if (fillable) {  // else never read: the call must fail (or rows == 0 with a huge cols)
    if (c.op == op_softmax_backward || c.op == op_log_softmax_backward) {
      fill_backward(c, bits, in);
    } else {
      fill_logits(c.values0, c, c.in0, c.style0, bits, in);
      if (c.op == op_cross_entropy_soft) fill_probabilities(c, bits, in);
    }
  }
  encode_values(c.values0, c.in0.dtype, c.bytes0);
  encode_values(c.values1, c.in1.dtype, c.bytes1);
  if (c.has(trait_softmax_options)) fill_transform(c, e, bits);
  if (c.has(trait_seeds)) fill_seeds(c, bits);

  // Keep only the aliasings this operation has.
  const bool sharded = c.op == op_cross_entropy_sharded, matrix = c.has_matrix_output();
  const bool classes = c.has(trait_class_output);
  if (c.has(trait_linear)) return c;  // every aliasing has a meaning of its own (make_buffers)
  const bool applies[alias_count] = {true,
                                     matrix,
                                     (matrix && c.has(trait_second_input)) || c.has(trait_seeds),
                                     matrix,
                                     !sharded && (matrix || classes || c.has(trait_lse_output)),
                                     classes || c.has_vector_output(),
                                     !sharded,
                                     !sharded,
                                     c.transform.mask_kind != 0,
                                     !sharded && (classes || (matrix && c.has(trait_loss_output)))};
  if (!applies[c.alias]) c.alias = alias_none;
  return c;
}

std::string describe(const fuzz_case& c) {
  std::ostringstream s;
  const bool float_only = c.has(trait_float_only);
  if (c.has(trait_linear)) {
    const linear_case& l = c.linear;
    s << c.entry().name << " rows=" << c.rows << " hidden=" << l.hidden << " classes=" << c.cols
      << " strides=" << c.in0.stride << "/" << c.in1.stride << "/" << c.out.stride << "/" << l.grad_weight.stride
      << " null=" << (l.bias_null ? "bias," : "") << (l.grad_inputs_null ? "grad_inputs," : "")
      << (l.grad_weight_null ? "grad_weight," : "") << (l.grad_bias_null ? "grad_bias," : "") << c.null_pointer
      << " workspace=" << l.workspace << " start=" << l.start_kind << " alias=" << c.alias;
  } else {
    s << c.entry().name << (c.has(trait_grad_output) ? (c.with_grad ? "(grad)" : "(loss)") : "")
      << (c.generic && !float_only ? " generic" : "") << " rows=" << c.rows << " cols=" << c.cols
      << " strides=" << c.in0.stride;
    if (c.has(trait_second_input)) s << "/" << c.in1.stride;
    if (c.has_matrix_output()) s << "/" << c.out.stride;
    if (!float_only) {
      s << " dtypes=" << dtype_name(c.in0.dtype);
      if (c.has(trait_second_input)) s << "/" << dtype_name(c.in1.dtype);
      if (c.has_matrix_output()) s << "/" << dtype_name(c.out.dtype);
    }
    s << " alias=" << c.alias << " null=" << c.null_pointer;
  }
  if (c.exec_null) s << " exec=NULL";
  else s << " threads=" << c.threads << " isa=" << (c.isa ? c.isa : "NULL") << " pool=" << c.pool_mode;
  if (c.has(trait_cross_entropy_options)) {
    if (c.options_null) s << " options=NULL";
    else
      s << " reduction=" << c.reduction_raw << " ignore=" << c.options.ignore_index
        << " smoothing=" << c.options.label_smoothing << " z=" << c.options.z_loss << " weights=" << c.weight_kind
        << " logit_scale=" << c.options.logit_scale << " softcap=" << c.options.softcap;
    if (c.has(trait_integer_targets)) {
      s << " targets=[";
      for (std::size_t r = 0; r < c.targets.size() && r < 8; ++r) s << (r ? "," : "") << c.targets[r];
      s << (c.targets.size() > 8 ? ",...]" : "]");
    }
  }
  const transform_case& t = c.transform;
  if (c.has(trait_softmax_options)) {
    if (!t.given()) s << " transform=NULL";
    else if (!t.set()) s << " transform=defaults";
    else
      s << " scale=" << t.scale << " softcap=" << t.softcap << " mask=" << t.mask_kind << "/"
        << dtype_name(t.mask_dtype) << "/" << t.mask_rows << "x" << t.mask_stride << " rows_per_head=" << t.rows_per_head
        << " slopes=" << t.slopes_kind << " sinks=" << t.sinks_kind << " valid_cols=" << t.valid_kind;
  }
  const selection_case& sel = c.selection;
  if (c.op == op_top_k) s << " k=" << sel.k;
  if (c.has(trait_class_output)) s << (sel.log_probs_null ? " log_probs=NULL" : "") << (sel.lse_null && c.op == op_top_k ? " lse=NULL" : "");
  if (c.has(trait_sampling_options)) {
    const softxent_sampling_options& o = sel.options;
    if (sel.options_mode == 0) s << " sampling=NULL";
    else if (sel.options_mode == 1) s << " sampling=defaults";
    else
      s << " temperature=" << o.temperature << " top_k=" << o.top_k << " top_p=" << o.top_p << " min_p=" << o.min_p
        << " offset=" << o.offset;
    s << " seeds=" << sel.seeds_kind;
  }
  if (c.op == op_cross_entropy_sharded) {
    s << " shards=[";
    for (std::size_t i = 0; i < c.shards.offsets.size(); ++i)
      s << (i ? "," : "") << c.shards.offsets[i] << "+" << c.shards.widths[i];
    s << "] total=" << c.shards.total_cols << " fault=" << c.shards.fault
      << (c.shards.finish_without_logits ? " finish-without-logits" : "");
  }
  s << " style=" << c.style0 << "/" << c.style1;
  return s.str();
}

}  // namespace softxent_fuzz
