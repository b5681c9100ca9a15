// Kernel-level tests of the load and store entries of every kernel table the CPU can run, called
// directly (below the API, fast under emulation): every one of the 65536 f16 and bf16 patterns
// decoded exactly; floats encoded to nearest even (all patterns, the midpoints between them and one
// float either side), overflow to infinity, NaN kept.
#include <doctest/doctest.h>

#include "dispatch.hpp"
#include "dtype_support.hpp"
#include "kernel_table.hpp"

using namespace sxtest;
using softxent::dtype;

namespace {

// Every table the CPU can run, by name, and the avx512 table without AVX-512 BF16's encoder where
// the name "avx512" chooses the one with it.
std::vector<const softxent::detail::kernel_table*> tables_with_load() {
  std::vector<const softxent::detail::kernel_table*> tables;
  for (const std::string& isa : available_isas()) {
    const softxent::detail::table_choice choice = softxent::detail::choose_table(isa.c_str());
    if (choice.result == softxent::status::ok && choice.table->load_chunk != nullptr) tables.push_back(choice.table);
    if (isa == "avx512" && choice.result == softxent::status::ok && choice.table != softxent::detail::avx512_table())
      tables.push_back(softxent::detail::avx512_table());
  }
  return tables;
}

softxent::detail::row_load plain_row(const void* x, dtype type, std::size_t cols) {
  return {x, type, 1.0f, 0.0f, nullptr, dtype::f32, 1.0f, cols, nullptr};
}

// Every pattern decoded by load_chunk (in one call, so every vector and tail position is met).
void check_decode(dtype type, real (*decode)(std::uint16_t)) {
  std::vector<std::uint16_t> patterns(65536);
  for (std::size_t i = 0; i < patterns.size(); ++i) patterns[i] = static_cast<std::uint16_t>(i);
  for (const auto* table : tables_with_load()) {
    for (std::size_t first : {std::size_t{0}, std::size_t{3}}) {
      std::vector<float> z(patterns.size() - first);
      table->load_chunk(plain_row(patterns.data(), type, patterns.size()), first, z.size(), z.data());
      std::size_t wrong = 0;
      for (std::size_t i = 0; i < z.size(); ++i) {
        const real expected = decode(patterns[first + i]);
        const bool same = std::isnan(expected) ? std::isnan(z[i]) : (z[i] == expected && std::signbit(z[i]) == std::signbit(expected));
        if (!same && ++wrong <= 3) MESSAGE(std::string(table->name) << " " << dtype_name(type) << " pattern " << patterns[first + i] << " -> " << z[i]);
      }
      CHECK_MESSAGE(wrong == 0, std::string(table->name) << " " << dtype_name(type) << ": " << wrong << " patterns decoded wrongly");
    }
  }
}

// Floats that probe a 16-bit format's rounding: each finite value, the midpoints between neighbours,
// one float above and below each midpoint, the overflow boundary, signed zeros, infinities, NaN.
std::vector<float> rounding_probes(real (*decode)(std::uint16_t), std::uint16_t largest_finite) {
  std::vector<float> probes;
  for (std::uint32_t h = 0; h <= largest_finite; ++h) {
    const real v = decode(static_cast<std::uint16_t>(h));
    const real next = h < largest_finite ? decode(static_cast<std::uint16_t>(h + 1)) : v * (1 + std::ldexp(real(1), -8));
    const auto mid = static_cast<float>((v + next) / 2);
    for (float f : {static_cast<float>(v), mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY)}) {
      probes.push_back(f);
      probes.push_back(-f);
    }
  }
  for (float f : {0.0f, -0.0f, INFINITY, -INFINITY, std::nanf(""), 65504.0f, 65519.99f, 65520.0f, 1e30f, 3.4e38f})
    probes.push_back(f);
  return probes;
}

void check_encode(dtype type, real (*decode)(std::uint16_t), std::uint16_t (*encode)(real),
                  std::uint16_t largest_finite) {
  const std::vector<float> probes = rounding_probes(decode, largest_finite);
  for (const auto* table : tables_with_load()) {
    std::vector<std::uint16_t> out(probes.size() + 2, 0xa5a5);
    table->store_chunk(probes.data(), probes.size(), out.data(), type);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < probes.size(); ++i) {
      const std::uint16_t expected = encode(probes[i]);
      const bool same = std::isnan(probes[i]) ? std::isnan(decode(out[i])) : out[i] == expected;
      if (!same && ++wrong <= 3)
        MESSAGE(std::string(table->name) << " " << dtype_name(type) << " " << probes[i] << " -> " << out[i] << " expected " << expected);
    }
    CHECK_MESSAGE(wrong == 0, std::string(table->name) << " " << dtype_name(type) << ": " << wrong << " of " << probes.size()
                                          << " floats encoded wrongly");
    CHECK_MESSAGE(out[probes.size()] == 0xa5a5, std::string(table->name) << ": store_chunk wrote past its end");
  }
}

}  // namespace

TEST_CASE("kernels: load_chunk decodes every f16 and bf16 pattern exactly on every instruction set's table") {
  check_decode(dtype::f16, decode_f16);
  check_decode(dtype::bf16, decode_bf16);
}

TEST_CASE("kernels: store_chunk rounds floats to f16 and bf16 to nearest even on every instruction set's table") {
  check_encode(dtype::f16, decode_f16, encode_f16, 0x7bff);
  check_encode(dtype::bf16, decode_bf16, encode_bf16, 0x7f7f);
}

TEST_CASE("kernels: load_chunk applies scale, softcap, mask with slope and valid_cols in SPEC's order") {
  const std::size_t cols = 37;
  std::vector<float> x(cols), mask(cols);
  for (std::size_t j = 0; j < cols; ++j) {
    x[j] = static_cast<float>(j) * 0.7f - 9.0f;
    mask[j] = j % 5 == 0 ? -INFINITY : static_cast<float>(j % 3) - 1.0f;
  }
  x[5] = std::nanf("");  // masked by the mask (5 % 5 == 0): stays masked
  x[7] = -INFINITY;      // a masked logit stays masked
  for (const auto* table : tables_with_load()) {
    const softxent::detail::row_load row{x.data(), dtype::f32, 0.5f, 3.0f, mask.data(), dtype::f32, -0.25f, 30, nullptr};
    std::vector<float> z(cols);
    table->load_chunk(row, 0, cols, z.data());
    for (std::size_t j = 0; j < cols; ++j) {
      double expected = 3.0 * std::tanh(0.5 * x[j] / 3.0);
      if (std::isinf(x[j])) expected = x[j];
      expected = mask[j] == -INFINITY ? -INFINITY : expected - 0.25 * mask[j];
      if (j >= 30) expected = -INFINITY;
      if (std::isinf(expected) || std::isnan(expected)) {
        CHECK_MESSAGE((std::isnan(expected) ? std::isnan(z[j]) : z[j] == expected), std::string(table->name) << " col " << j);
      } else {
        CHECK_MESSAGE(std::fabs(z[j] - expected) <= 4e-6 * (1 + std::fabs(expected)), std::string(table->name) << " col " << j << ": " << z[j] << " vs " << expected);
      }
    }
  }
}

// A row of random logits in [-30, 4] and a mask of random biases with every masked_every-th class
// -inf; row(in) is the row in dtype in (16-bit rows rounded from the floats).
struct logit_row {
  std::vector<float> x, mask;
  std::vector<std::uint16_t> x16;
  logit_row(unsigned seed, std::size_t cols, std::size_t masked_every) : x(cols), mask(cols), x16(cols) {
    random_source random(seed);
    for (std::size_t j = 0; j < cols; ++j) {
      x[j] = random.uniform(-30.0f, 4.0f);
      mask[j] = j % masked_every == 0 ? -INFINITY : random.uniform(-2.0f, 1.0f);
    }
  }
  const void* row(dtype in) {
    if (in == dtype::f32) return x.data();
    for (std::size_t j = 0; j < x.size(); ++j) x16[j] = in == dtype::f16 ? encode_f16(x[j]) : encode_bf16(x[j]);
    return x16.data();
  }
};

TEST_CASE("kernels: softmax_out_chunk equals load_chunk, then softmax_chunk or log_softmax_chunk, then store_chunk, bit for bit") {
  const std::size_t cols = 301;
  logit_row logits(4242, cols, 11);
  std::vector<float>& x = logits.x;
  const std::vector<float>& mask = logits.mask;
  x[17] = std::nanf("");
  x[40] = -INFINITY;
  for (const dtype in : {dtype::f32, dtype::f16, dtype::bf16}) {
    const void* xs = logits.row(in);
    using row_load = softxent::detail::row_load;
    const row_load rows[] = {
        {xs, in, 1.0f, 0.0f, nullptr, dtype::f32, 1.0f, cols, nullptr},
        {xs, in, 0.5f, 0.0f, nullptr, dtype::f32, 1.0f, 250, xs},
        {xs, in, 0.5f, 3.0f, mask.data(), dtype::f32, -0.25f, 290, nullptr},
    };
    for (const auto* table : tables_with_load()) {
      for (const row_load& row : rows) {
        for (const dtype out : {dtype::f32, dtype::f16, dtype::bf16}) {
          for (const bool log_space : {false, true}) {
            for (const std::size_t first : {std::size_t{0}, std::size_t{3}, std::size_t{50}}) {
              const std::size_t n = cols - first - (first == 3 ? 5 : 0);
              const std::size_t size = out == dtype::f32 ? 4 : 2;
              std::vector<unsigned char> fused((n + 4) * size, 0x5a), staged((n + 4) * size, 0x5a);
              const float shift = 2.5f, factor = log_space ? 1.75f : 0.03125f;
              table->softmax_out_chunk(row, first, n, shift, factor, log_space, fused.data(), out);
              std::vector<float> z(n);
              table->load_chunk(row, first, n, z.data());
              if (log_space) {
                table->log_softmax_chunk(z.data(), n, shift, factor, z.data());
              } else {
                table->softmax_chunk(z.data(), n, shift, factor, z.data());
              }
              table->store_chunk(z.data(), n, staged.data(), out);
              CHECK_MESSAGE(fused == staged, std::string(table->name) << " " << dtype_name(in) << "->" << dtype_name(out)
                                                 << " scale " << row.scale << " log " << log_space << " first " << first);
            }
          }
        }
      }
    }
  }
}

TEST_CASE("kernels: load_stats_chunk gives the statistics of what load_chunk loads, without its scratch") {
  const std::size_t cols = 3001;  // several of the statistics' sub-blocks, and a tail
  logit_row logits(977, cols, 11);
  std::vector<float>& x = logits.x;
  const std::vector<float>& mask = logits.mask;
  x[2500] = 9.0f;  // a later sub-block raises the running max
  x[40] = -INFINITY;
  for (const dtype in : {dtype::f32, dtype::f16, dtype::bf16}) {
    const void* xs = logits.row(in);
    using row_load = softxent::detail::row_load;
    const row_load rows[] = {
        {xs, in, 1.0f, 0.0f, nullptr, dtype::f32, 1.0f, cols, nullptr},
        {xs, in, 0.5f, 0.0f, nullptr, dtype::f32, 1.0f, cols, xs},
        {xs, in, 1.0f, 0.0f, mask.data(), dtype::f32, -0.25f, cols, nullptr},
        {xs, in, 0.5f, 3.0f, mask.data(), dtype::f32, 0.5f, cols, nullptr},
        {xs, in, 0.125f, 0.0f, nullptr, dtype::f32, 1.0f, 1777, nullptr},  // masked from 1777 on
        {xs, in, 1.0f, 0.0f, nullptr, dtype::f32, 1.0f, 0, nullptr},       // all masked
    };
    for (const auto* table : tables_with_load()) {
      for (const row_load& row : rows) {
        for (const std::size_t first : {std::size_t{0}, std::size_t{5}, std::size_t{1024}, std::size_t{2990}}) {
          const std::size_t n = cols - first;
          std::vector<float> z(n);
          table->load_chunk(row, first, n, z.data());
          const auto want = table->exp_stats_chunk(z.data(), n, nullptr, nullptr);
          const auto got = table->load_stats_chunk(row, first, n);
          const std::string where = std::string(table->name) + " " + dtype_name(in) + " scale " + std::to_string(row.scale) +
                                    " valid " + std::to_string(row.valid_cols) + " first " + std::to_string(first);
          CHECK_MESSAGE(got.max == want.max, where);
          CHECK_MESSAGE(got.shift == want.shift, where);
          if (row.valid_cols >= first + n) {
            // The same sums in the same order: bit for bit.
            CHECK_MESSAGE(got.sum_exp == want.sum_exp, where << ": " << got.sum_exp << " vs " << want.sum_exp);
          } else {
            // The masked classes are not summed at all: the same terms, grouped otherwise.
            CHECK_MESSAGE(std::fabs(got.sum_exp - want.sum_exp) <= 1e-6 * want.sum_exp, where << ": " << got.sum_exp << " vs " << want.sum_exp);
          }
        }
      }
    }
  }
}

TEST_CASE("kernels: load_exp_stats_chunk then store_softmax_chunk equal the scratch's three kernels, bit for bit") {
  const std::size_t cols = 1500;
  logit_row logits(31337, cols, 13);
  std::vector<float>& x = logits.x;
  const std::vector<float>& mask = logits.mask;
  x[1200] = 8.0f;
  x[33] = -INFINITY;
  for (const dtype in : {dtype::f32, dtype::f16, dtype::bf16}) {
    const void* xs = logits.row(in);
    using row_load = softxent::detail::row_load;
    const row_load rows[] = {
        {xs, in, 1.0f, 0.0f, nullptr, dtype::f32, 1.0f, cols, xs},
        {xs, in, 0.125f, 0.0f, mask.data(), dtype::f32, 0.5f, cols, nullptr},
        {xs, in, 0.5f, 3.0f, nullptr, dtype::f32, 1.0f, 1001, nullptr},
    };
    for (const auto* table : tables_with_load()) {
      for (const row_load& row : rows) {
        for (const std::size_t n : {std::size_t{1000}, std::size_t{1500}, std::size_t{7}}) {
          for (const bool keep_exp : {false, true}) {
            std::vector<float> fused(n), staged(n);
            const auto got = table->load_exp_stats_chunk(row, 0, n, fused.data(), keep_exp);
            table->load_chunk(row, 0, n, staged.data());
            const std::vector<float> z = staged;
            const auto want = table->exp_stats_chunk(staged.data(), n, keep_exp ? staged.data() : nullptr, nullptr);
            const std::string where = std::string(table->name) + " " + dtype_name(in) + " scale " +
                                      std::to_string(row.scale) + " n " + std::to_string(n) + " keep " + std::to_string(keep_exp);
            CHECK_MESSAGE(got.max == want.max, where);
            CHECK_MESSAGE(got.shift == want.shift, where);
            CHECK_MESSAGE(fused == staged, where);
            if (keep_exp || n <= 1024) {
              CHECK_MESSAGE(got.sum_exp == want.sum_exp, where);  // the same sums in the same order
            } else {  // one shift for the whole chunk, where exp_stats_chunk merges sub-blocks
              CHECK_MESSAGE(std::fabs(got.sum_exp - want.sum_exp) <= 1e-6 * want.sum_exp, where);
            }
            if (!keep_exp) continue;
            // The outputs, with none, a few or more than a vector of masked classes after the n
            // computed ones.
            const float factor = static_cast<float>(1.0 / got.sum_exp), offset = static_cast<float>(std::log(got.sum_exp));
            for (const dtype out : {dtype::f32, dtype::f16, dtype::bf16}) {
              for (const bool log_space : {false, true}) {
                for (const std::size_t masked : {std::size_t{0}, std::size_t{3}, std::size_t{21}}) {
                  const std::size_t size = out == dtype::f32 ? 4 : 2;
                  std::vector<unsigned char> direct((n + masked + 3) * size, 0x5a), expected((n + masked + 3) * size, 0x5a);
                  const float* v = log_space ? z.data() : fused.data();
                  table->store_softmax_chunk(v, n, masked, got.shift, log_space ? offset : factor, log_space, direct.data(), out,
                                             direct.data() + direct.size());
                  std::vector<float> y(n + masked, log_space ? -INFINITY : 0.0f);
                  if (log_space) {
                    table->log_softmax_chunk(z.data(), n, got.shift, offset, y.data());
                  } else {
                    table->softmax_chunk(z.data(), n, got.shift, factor, y.data());
                  }
                  table->store_chunk(y.data(), n + masked, expected.data(), out);
                  CHECK_MESSAGE(direct == expected, where << " -> " << dtype_name(out) << " log " << log_space << " masked " << masked);
                }
              }
            }
          }
        }
      }
    }
  }
}
