// A next-token language model whose 32000-class output layer never materializes its logits:
//
//   previous `context` tokens -> embeddings (concatenated) -> hidden = tanh(W1 e + b1)
//                             -> softxent::linear_cross_entropy(hidden, W2 (32000 x hidden), b2)
//
// One fused call per step gives the loss, d loss / d hidden (overwritten), and adds d loss / d W2 and
// d loss / d b2 into their buffers; backpropagation through tanh and the embeddings takes it from
// there, and Adam updates every parameter. The fused call works in a workspace of at most 64 MiB
// whatever the batch, where the logits of a batch take rows x 125 KiB. After training, one batch of
// --compare-batch rows (default 4096: 500 MiB of logits) goes through the output layer both ways:
// the program prints the peak memory of each and checks that their losses agree.
//
// Text: the licenses Debian ships with every system (/usr/share/common-licenses, package base-files),
// cut into lowercase words and punctuation, each hashed (FNV-1a) into one of the 32000 classes.
//
//   train_next_token [--steps N] [--batch N] [--compare-batch N] [--hidden N] [--threads N]
//                    [--text-dir DIR] [--quick]
// --quick: 30 steps of 256 rows and a comparison batch of 2048 (the test suite's run; flags after it
// still apply); the program fails unless the loss falls by at least 1 nat and the fused and
// materialized losses agree.
#include <softxent/softxent.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../random.hpp"
#include "../training/matrix_product.hpp"

namespace {

using training::matrix_product;
using training::transpose;

constexpr std::size_t classes = 32000;

struct settings {
  std::size_t steps = 200;
  std::size_t batch = 512;
  std::size_t compare_batch = 4096;
  std::size_t hidden = 256;
  std::size_t context = 3;
  std::size_t embedding = 32;
  float learning_rate = 3e-3f;
  int threads = 0;
  std::string text_dir = "/usr/share/common-licenses";
};

settings parse(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", flag.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (flag == "--steps") s.steps = std::strtoull(value().c_str(), nullptr, 10);
    else if (flag == "--batch") s.batch = std::strtoull(value().c_str(), nullptr, 10);
    else if (flag == "--compare-batch") s.compare_batch = std::strtoull(value().c_str(), nullptr, 10);
    else if (flag == "--hidden") s.hidden = std::strtoull(value().c_str(), nullptr, 10);
    else if (flag == "--threads") s.threads = std::atoi(value().c_str());
    else if (flag == "--text-dir") s.text_dir = value();
    else if (flag == "--quick") {  // later flags may still change these
      s.steps = 30;
      s.batch = 256;
      s.compare_batch = 2048;
    }
    else {
      std::fprintf(stderr,
                   "usage: %s [--steps N] [--batch N] [--compare-batch N] [--hidden N] [--threads N] [--text-dir DIR] "
                   "[--quick]\n",
                   argv[0]);
      std::exit(2);
    }
  }
  return s;
}

// FNV-1a of a word, folded into the classes.
std::int64_t token_of(const std::string& word) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : word) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return static_cast<std::int64_t>(h % classes);
}

// Every file of the folder, in name order, cut into lowercase words and single punctuation marks.
std::vector<std::int64_t> read_tokens(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (const dirent* entry = readdir(d))
      if (entry->d_name[0] != '.') names.emplace_back(entry->d_name);
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  std::vector<std::int64_t> tokens;
  for (const std::string& name : names) {
    std::ifstream in(dir + "/" + name);
    std::stringstream text;
    text << in.rdbuf();
    std::string word;
    for (char raw : text.str()) {
      const auto c = static_cast<unsigned char>(raw);
      if (std::isalnum(c)) {
        word += static_cast<char>(std::tolower(c));
        continue;
      }
      if (!word.empty()) tokens.push_back(token_of(word));
      word.clear();
      if (std::ispunct(c)) tokens.push_back(token_of(std::string(1, static_cast<char>(c))));
    }
    if (!word.empty()) tokens.push_back(token_of(word));
  }
  return tokens;
}

// Peak resident memory of the process so far (VmHWM), in MiB.
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  return 0.0;
}
double mib(std::size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// A parameter with its gradient and Adam's moments.
struct parameter {
  std::vector<float> value, grad, m, v;
  explicit parameter(std::size_t n, float scale, examples::random_generator& random)
      : value(n), grad(n, 0.0f), m(n, 0.0f), v(n, 0.0f) {
    for (float& x : value) x = scale * static_cast<float>(2.0 * random.uniform() - 1.0);
  }
  void adam(float learning_rate, std::size_t step) {
    const float b1 = 0.9f, b2 = 0.999f;
    const float c1 = 1.0f - std::pow(b1, static_cast<float>(step)), c2 = 1.0f - std::pow(b2, static_cast<float>(step));
    for (std::size_t i = 0; i < value.size(); ++i) {
      m[i] = b1 * m[i] + (1 - b1) * grad[i];
      v[i] = b2 * v[i] + (1 - b2) * grad[i] * grad[i];
      value[i] -= learning_rate * (m[i] / c1) / (std::sqrt(v[i] / c2) + 1e-8f);
      grad[i] = 0.0f;
    }
  }
};

struct model {
  std::size_t context, embedding, hidden;
  parameter embeddings, w1, b1, w2, b2;
  model(const settings& s, examples::random_generator& random)
      : context(s.context), embedding(s.embedding), hidden(s.hidden),
        embeddings(classes * s.embedding, 0.5f, random),
        w1(s.hidden * s.context * s.embedding, 1.0f / std::sqrt(static_cast<float>(s.context * s.embedding)), random),
        b1(s.hidden, 0.0f, random), w2(classes * s.hidden, 1.0f / std::sqrt(static_cast<float>(s.hidden)), random),
        b2(classes, 0.0f, random) {}
};

// A batch: the rows' contexts (concatenated embeddings) and next tokens.
struct batch {
  std::vector<std::size_t> positions;  // the predicted token's index in the text
  std::vector<float> features;         // rows x (context * embedding)
  std::vector<float> hidden;           // rows x hidden, tanh applied
  std::vector<std::int64_t> targets;
};

void forward(const model& mdl, const std::vector<std::int64_t>& text, batch& b) {
  const std::size_t rows = b.positions.size(), width = mdl.context * mdl.embedding;
  b.features.resize(rows * width);
  b.hidden.resize(rows * mdl.hidden);
  b.targets.resize(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    const std::size_t p = b.positions[r];
    for (std::size_t c = 0; c < mdl.context; ++c) {
      const auto token = static_cast<std::size_t>(text[p - mdl.context + c]);
      std::memcpy(&b.features[r * width + c * mdl.embedding], &mdl.embeddings.value[token * mdl.embedding],
                  mdl.embedding * sizeof(float));
    }
    b.targets[r] = text[p];
    std::memcpy(&b.hidden[r * mdl.hidden], mdl.b1.value.data(), mdl.hidden * sizeof(float));
  }
  matrix_product(transpose::no, transpose::yes, rows, mdl.hidden, width, b.features.data(), width, mdl.w1.value.data(),
                 width, 1.0f, b.hidden.data(), mdl.hidden);
  for (float& h : b.hidden) h = std::tanh(h);
}

// The output layer's loss (mean) and gradients, fused. grad_hidden: rows x hidden, overwritten.
float output_layer_fused(model& mdl, const batch& b, std::vector<float>& grad_hidden, std::vector<unsigned char>& work,
                         const softxent::exec_options& exec) {
  const std::size_t rows = b.targets.size();
  float loss = 0.0f;
  const softxent::status s = softxent::linear_cross_entropy(
      {softxent::const_matrix(b.hidden.data(), rows, mdl.hidden),
       softxent::const_matrix(mdl.w2.value.data(), classes, mdl.hidden), mdl.b2.value.data()},
      b.targets.data(), &loss,
      {softxent::matrix(grad_hidden.data(), rows, mdl.hidden), softxent::matrix(mdl.w2.grad.data(), classes, mdl.hidden),
       mdl.b2.grad.data()},
      {work.data(), work.size()}, {}, exec);
  if (s != softxent::status::ok) {
    std::fprintf(stderr, "linear_cross_entropy: %s\n", softxent::status_string(s));
    std::exit(1);
  }
  return loss;
}

// The same with materialized logits: rows x 32000 floats, softxent's cross-entropy in place, then
// the two products. Returns the loss; grad_hidden overwritten, the output layer's gradients added.
float output_layer_materialized(model& mdl, const batch& b, std::vector<float>& grad_hidden,
                                const softxent::exec_options& exec) {
  const std::size_t rows = b.targets.size();
  std::vector<float> logits(rows * classes);
  for (std::size_t r = 0; r < rows; ++r) std::memcpy(&logits[r * classes], mdl.b2.value.data(), classes * sizeof(float));
  matrix_product(transpose::no, transpose::yes, rows, classes, mdl.hidden, b.hidden.data(), mdl.hidden,
                 mdl.w2.value.data(), mdl.hidden, 1.0f, logits.data(), classes);
  float loss = 0.0f;
  const softxent::matrix view(logits.data(), rows, classes);
  if (softxent::cross_entropy(view, b.targets.data(), &loss, view, {}, exec) != softxent::status::ok) std::exit(1);
  matrix_product(transpose::no, transpose::no, rows, mdl.hidden, classes, logits.data(), classes, mdl.w2.value.data(),
                 mdl.hidden, 0.0f, grad_hidden.data(), mdl.hidden);
  matrix_product(transpose::yes, transpose::no, classes, mdl.hidden, rows, logits.data(), classes, b.hidden.data(),
                 mdl.hidden, 1.0f, mdl.w2.grad.data(), mdl.hidden);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < classes; ++j) mdl.b2.grad[j] += logits[r * classes + j];
  return loss;
}

// Backpropagation below the output layer: through tanh, W1, b1 and the embeddings.
void backward(model& mdl, const std::vector<std::int64_t>& text, const batch& b, std::vector<float>& grad_hidden) {
  const std::size_t rows = b.positions.size(), width = mdl.context * mdl.embedding;
  for (std::size_t i = 0; i < grad_hidden.size(); ++i) grad_hidden[i] *= 1.0f - b.hidden[i] * b.hidden[i];
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t k = 0; k < mdl.hidden; ++k) mdl.b1.grad[k] += grad_hidden[r * mdl.hidden + k];
  matrix_product(transpose::yes, transpose::no, mdl.hidden, width, rows, grad_hidden.data(), mdl.hidden,
                 b.features.data(), width, 1.0f, mdl.w1.grad.data(), width);
  std::vector<float> grad_features(rows * width);
  matrix_product(transpose::no, transpose::no, rows, width, mdl.hidden, grad_hidden.data(), mdl.hidden,
                 mdl.w1.value.data(), width, 0.0f, grad_features.data(), width);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < mdl.context; ++c) {
      const auto token = static_cast<std::size_t>(text[b.positions[r] - mdl.context + c]);
      for (std::size_t e = 0; e < mdl.embedding; ++e)
        mdl.embeddings.grad[token * mdl.embedding + e] += grad_features[r * width + c * mdl.embedding + e];
    }
}

}  // namespace

int main(int argc, char** argv) {
  const settings s = parse(argc, argv);
  const std::vector<std::int64_t> text = read_tokens(s.text_dir);
  if (text.size() < s.context + 2) {
    std::fprintf(stderr, "no text in %s\n", s.text_dir.c_str());
    return 1;
  }
  examples::random_generator random(7);
  model mdl(s, random);
  softxent::exec_options exec;
  exec.threads = s.threads;
  std::vector<unsigned char> work(softxent::linear_cross_entropy_workspace_size(s.batch, s.hidden, classes, exec));
  if (work.empty()) {
    std::fprintf(stderr, "this softxent build has no BLAS: no fused linear cross-entropy\n");
    return 1;
  }
  std::printf("text: %zu tokens from %s, %zu classes; model: %zu x %zu embeddings -> %zu tanh -> %zu; batch %zu; "
              "matrix products below the output layer: %s\n",
              text.size(), s.text_dir.c_str(), classes, s.context, s.embedding, s.hidden, classes, s.batch,
              training::matrix_product_backend());

  batch b;
  std::vector<float> grad_hidden(s.batch * s.hidden);
  const auto draw = [&](std::size_t rows) {
    b.positions.resize(rows);
    for (std::size_t& p : b.positions) p = s.context + random.below(text.size() - s.context);
  };
  double first_losses = 0.0, last_losses = 0.0;
  const std::size_t window = std::min<std::size_t>(5, s.steps / 2 == 0 ? 1 : s.steps / 2);
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t step = 1; step <= s.steps; ++step) {
    draw(s.batch);
    forward(mdl, text, b);
    const float loss = output_layer_fused(mdl, b, grad_hidden, work, exec);
    backward(mdl, text, b, grad_hidden);
    for (parameter* p : {&mdl.embeddings, &mdl.w1, &mdl.b1, &mdl.w2, &mdl.b2}) p->adam(s.learning_rate, step);
    if (step <= window) first_losses += loss;
    if (step > s.steps - window) last_losses += loss;
    if (step == 1 || step % 10 == 0 || step == s.steps) std::printf("step %4zu  loss %.4f\n", step, static_cast<double>(loss));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  first_losses /= static_cast<double>(window);
  last_losses /= static_cast<double>(window);
  std::printf("mean loss of the first %zu steps %.4f, of the last %zu %.4f (uniform guess: %.4f); %.2f s\n", window,
              first_losses, window, last_losses, std::log(static_cast<double>(classes)), seconds);

  // One large batch both ways: the same loss, and the memory each needs.
  draw(s.compare_batch);
  forward(mdl, text, b);
  grad_hidden.assign(s.compare_batch * s.hidden, 0.0f);
  work.assign(softxent::linear_cross_entropy_workspace_size(s.compare_batch, s.hidden, classes, exec), 0);
  const double rss_fused = peak_rss_mib();
  const float fused_loss = output_layer_fused(mdl, b, grad_hidden, work, exec);
  const double rss_after_fused = peak_rss_mib();
  const float materialized_loss = output_layer_materialized(mdl, b, grad_hidden, exec);
  const double rss_after_materialized = peak_rss_mib();
  std::printf("output layer of %zu rows: fused workspace %.1f MiB, materialized logits %.1f MiB\n", s.compare_batch,
              mib(work.size()), mib(s.compare_batch * classes * sizeof(float)));
  std::printf("process peak memory: %.1f MiB before, %.1f MiB after the fused step, %.1f MiB after the materialized one\n",
              rss_fused, rss_after_fused, rss_after_materialized);
  std::printf("loss of this batch: fused %.6f, materialized %.6f\n", static_cast<double>(fused_loss),
              static_cast<double>(materialized_loss));

  bool ok = true;
  if (!(last_losses < first_losses - 1.0)) {
    std::fprintf(stderr, "the loss did not fall by 1 nat\n");
    ok = false;
  }
  if (!(std::fabs(fused_loss - materialized_loss) <= 1e-4f * std::fabs(materialized_loss))) {
    std::fprintf(stderr, "the fused and materialized losses differ\n");
    ok = false;
  }
  return ok ? 0 : 1;
}
