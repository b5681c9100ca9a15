// Replays the committed fuzz corpus (fuzz/corpus, seeds and every input that once found a defect)
// through the fuzz checker in every build: g++ Release, ASan+UBSan, and the emulated CPUs.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "c_api_checker.hpp"

#ifndef SOFTXENT_FUZZ_CORPUS_DIR
#error "SOFTXENT_FUZZ_CORPUS_DIR must name fuzz/corpus"
#endif

TEST_SUITE("fuzz") {
  TEST_CASE("fuzz corpus: every committed input passes the C API checker") {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(SOFTXENT_FUZZ_CORPUS_DIR))
      if (entry.is_regular_file()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    REQUIRE(files.size() >= 20);
    int failures = 0;
    for (const auto& path : files) {
      std::ifstream in(path, std::ios::binary);
      const std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const std::vector<std::uint8_t> bytes(chars.begin(), chars.end());
      const std::string problems = softxent_fuzz::check_case(bytes.data(), bytes.size());
      if (!problems.empty() && ++failures <= 5) FAIL_CHECK(path.filename().string() << ":\n" << problems);
    }
    CHECK(failures == 0);
  }
}
