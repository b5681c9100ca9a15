// A small deterministic generator (splitmix64): the same numbers on every platform and standard
// library, so an example's run is reproducible anywhere.
#ifndef SOFTXENT_EXAMPLES_RANDOM_HPP
#define SOFTXENT_EXAMPLES_RANDOM_HPP

#include <cstddef>
#include <cstdint>

namespace examples {

class random_generator {
 public:
  explicit random_generator(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform in [0, bound); the modulo bias is negligible for the small bounds used here.
  std::size_t below(std::size_t bound) { return static_cast<std::size_t>(next() % bound); }

 private:
  std::uint64_t state_;
};

}  // namespace examples

#endif  // SOFTXENT_EXAMPLES_RANDOM_HPP
