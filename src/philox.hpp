// Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC
// 2011), with Random123's multipliers and Weyl key increments: a counter-based generator, so that a
// row's draw is a pure function of its seed and the step, whatever else the call holds. Self-contained
// (the tests check it on Random123's known-answer vectors).
#ifndef SOFTXENT_SRC_PHILOX_HPP
#define SOFTXENT_SRC_PHILOX_HPP

#include <array>
#include <cstdint>

namespace softxent::detail {

using philox_counter = std::array<std::uint32_t, 4>;
using philox_key = std::array<std::uint32_t, 2>;

// Ten rounds; the key is bumped before every round but the first.
static inline philox_counter philox4x32_10(philox_counter counter, philox_key key) noexcept {
  constexpr std::uint64_t multiplier0 = 0xD2511F53u, multiplier1 = 0xCD9E8D57u;
  constexpr std::uint32_t weyl0 = 0x9E3779B9u, weyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key[0] += weyl0;
      key[1] += weyl1;
    }
    const std::uint64_t product0 = multiplier0 * counter[0];
    const std::uint64_t product1 = multiplier1 * counter[2];
    counter = {static_cast<std::uint32_t>(product1 >> 32) ^ counter[1] ^ key[0], static_cast<std::uint32_t>(product1),
               static_cast<std::uint32_t>(product0 >> 32) ^ counter[3] ^ key[1], static_cast<std::uint32_t>(product0)};
  }
  return counter;
}

// The uniform draw of SPEC.md's sampling in [0, 1): the top 24 bits of the first output word of the
// counter (offset low, offset high, 0, 0) under the key (seed low, seed high), times 2^-24.
static inline double sampling_uniform(std::uint64_t seed, std::uint64_t offset) noexcept {
  const philox_counter out =
      philox4x32_10({static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(offset >> 32), 0u, 0u},
                    {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)});
  return static_cast<double>(out[0] >> 8) * 0x1p-24;
}

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_PHILOX_HPP
