// The options and the main loop the benchmark binaries share (softxent_bench and softxent_bench_pytorch):
// shapes, regimes, thread counts, repetitions and time budgets, and the run's context in the JSON output.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"

namespace softxent_bench {
namespace {

const char* const usage_text =
    "usage: softxent_bench[_pytorch] [options] [Google Benchmark options]\n"
    "  --shapes=RxC,...       shapes to run besides SPEC.md's (also --shapes RxC,...)\n"
    "  --only_shapes=RxC,...  these shapes instead of SPEC.md's\n"
    "  --regimes=LIST         hot (the same buffers every call) and/or cold (buffers rotated over\n"
    "                         --rotation_mb); default hot,cold\n"
    "  --isas=LIST            softxent instruction sets: 'best' (reference and the one a default call uses),\n"
    "                         'all' (reference, scalar, sse2, avx2, avx512 or neon) or a list; default best\n"
    "  --threads=LIST         thread counts; default 1 and all the machine's cores\n"
    "  --repetitions=N        repetitions of each benchmark, medians are reported; default 3\n"
    "  --min_time=S           seconds per repetition; default 0.05\n"
    "  --reference_min_time=S seconds per repetition of the (slow) reference; default 0.005\n"
    "  --rotation_mb=N        cold buffer sets of a benchmark cover at least N MiB; default 256\n"
    "  --exp_sweep_stride=N   the roof's exp is checked on every N-th float of [-87, 0]; default 16\n"
    "  --no_roof              skip the roof (streaming read, copy, add and the exp)\n"
    "  --no_compare           skip oneDNN and XNNPACK\n";

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "softxent_bench: %s\n%s", message.c_str(), usage_text);
  std::exit(2);
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    if (comma > start) items.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

std::size_t parse_count(const std::string& text, const std::string& what) {
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || value == 0) fail("bad " + what + " '" + text + "'");
  return static_cast<std::size_t>(value);
}

double parse_seconds(const std::string& text, const std::string& what) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(value > 0)) fail("bad " + what + " '" + text + "'");
  return value;
}

std::vector<regime> parse_regimes(const std::string& text) {
  std::vector<regime> regimes;
  for (const std::string& item : split_list(text)) {
    if (item == "hot") {
      regimes.push_back(regime::hot);
    } else if (item == "cold") {
      regimes.push_back(regime::cold);
    } else {
      fail("bad regime '" + item + "' (want hot or cold)");
    }
  }
  return regimes;
}

std::vector<shape> parse_shapes(const std::string& text) {
  std::vector<shape> shapes;
  for (const std::string& item : split_list(text)) {
    const std::size_t x = item.find('x');
    if (x == std::string::npos) fail("bad shape '" + item + "' (want ROWSxCOLS)");
    shapes.push_back({parse_count(item.substr(0, x), "rows"), parse_count(item.substr(x + 1), "cols")});
  }
  return shapes;
}

std::vector<std::string> all_isas() {
#if defined(__x86_64__) || defined(_M_X64)
  return {"reference", "scalar", "sse2", "avx2", "avx512"};
#elif defined(__aarch64__)
  return {"reference", "scalar", "neon"};
#else
  return {"reference", "scalar"};
#endif
}

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

}  // namespace

// Takes this program's options out of argv, leaving Google Benchmark's.
void parse_options(int& argc, char** argv) {
  run_config c;
  c.shapes = {{32768, 10}, {8192, 128}, {1024, 2048}, {4096, 1000}, {512, 32000}, {64, 128256}, {1, 128256}};
  const int all_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  c.thread_counts = {1};
  if (all_threads > 1) c.thread_counts.push_back(all_threads);
  std::string isas = "best";
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    const std::size_t equals = arg.find('=');
    const std::string name = arg.substr(0, equals);
    std::string value = equals == std::string::npos ? "" : arg.substr(equals + 1);
    const bool takes_value = name == "--shapes" || name == "--only_shapes" || name == "--isas" ||
                             name == "--threads" || name == "--repetitions" || name == "--min_time" ||
                             name == "--reference_min_time" || name == "--rotation_mb" || name == "--regimes" ||
                             name == "--exp_sweep_stride";
    if (takes_value && equals == std::string::npos) {
      if (i + 1 == argc) fail(name + " needs a value");
      value = argv[++i];
    }
    if (name == "--shapes") {
      for (const shape& s : parse_shapes(value)) c.shapes.push_back(s);
    } else if (name == "--only_shapes") {
      c.shapes = parse_shapes(value);
    } else if (name == "--regimes") {
      c.regimes = parse_regimes(value);
    } else if (name == "--isas") {
      isas = value;
    } else if (name == "--threads") {
      c.thread_counts.clear();
      for (const std::string& t : split_list(value)) c.thread_counts.push_back(static_cast<int>(parse_count(t, "thread count")));
    } else if (name == "--repetitions") {
      c.repetitions = static_cast<int>(parse_count(value, "repetition count"));
    } else if (name == "--min_time") {
      c.min_time = parse_seconds(value, "time");
    } else if (name == "--reference_min_time") {
      c.reference_min_time = parse_seconds(value, "time");
    } else if (name == "--rotation_mb") {
      c.rotation_bytes = parse_count(value, "size") << 20;
    } else if (name == "--exp_sweep_stride") {
      c.exp_sweep_stride = static_cast<unsigned>(parse_count(value, "stride"));
    } else if (arg == "--no_roof") {
      c.roof = false;
    } else if (arg == "--no_compare") {
      c.compare = false;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(usage_text, stdout);
      std::exit(0);
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  if (isas == "all") {
    c.isas = all_isas();
  } else if (isas == "best") {
    const char* best = softxent::isa();
    c.isas = {"reference"};
    if (best != nullptr && std::string(best) != "reference") c.isas.emplace_back(best);
  } else {
    c.isas = split_list(isas);
  }
  if (c.regimes.empty()) fail("no regime to run");
  set_config(c);
}

int run_benchmarks(int argc, char** argv, void (*register_all)()) {
  parse_options(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  const char* default_isa = softxent::isa();
  benchmark::AddCustomContext("softxent_version", softxent::version());
  benchmark::AddCustomContext("softxent_default_isa", default_isa != nullptr ? default_isa : "none");
  benchmark::AddCustomContext("cpu_model", cpu_model());
  benchmark::AddCustomContext("rotation_mib", std::to_string(config().rotation_bytes >> 20));
  register_all();
  reserve_buffers();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace softxent_bench
