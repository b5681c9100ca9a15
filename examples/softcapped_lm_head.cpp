// A language-model head trained with Gemma 2's final-logit softcapping: a byte-level bigram model
// (embedding of the previous byte -> logits over 256 next bytes) whose logits go through
// z = softcap * tanh(logit_scale * x / softcap) inside softxent's cross-entropy, which returns the loss
// on z and the gradient with respect to the raw logits x (the chain rule through the tanh), with label
// smoothing. Trained by plain SGD on a text that Debian ships on every system (the GPL's text from
// base-files), it prints the loss as it falls and exits 1 if it does not fall.
//
// Usage: softcapped_lm_head [text file (default /usr/share/common-licenses/GPL-3)] [steps (default 300)]
#include <softxent/softxent.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "random.hpp"

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "/usr/share/common-licenses/GPL-3";
  const int steps = argc > 2 ? std::atoi(argv[2]) : 300;
  std::ifstream file(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (text.size() < 1024 || steps <= 0) {
    std::fprintf(stderr, "need a text of at least 1 KiB (got %zu bytes from %s)\n", text.size(), path.c_str());
    return 2;
  }

  constexpr std::size_t vocabulary = 256, width = 32, batch = 256;
  examples::random_generator random(3);
  const auto small = [&] { return static_cast<float>(0.1 * (random.uniform() - 0.5)); };
  std::vector<float> embedding(vocabulary * width), output(vocabulary * width);
  for (float& v : embedding) v = small();
  for (float& v : output) v = small();

  softxent::cross_entropy_options options;  // MEAN over the batch
  options.softcap = 30.0f;
  options.logit_scale = 1.0f;
  options.label_smoothing = 0.05f;

  std::vector<float> logits(batch * vocabulary), hidden(batch * width), grad_hidden(batch * width);
  std::vector<std::int64_t> previous(batch), targets(batch);
  float first_loss = 0.0f, loss = 0.0f;
  const float rate = 2.0f;
  for (int step = 0; step < steps; ++step) {
    for (std::size_t b = 0; b < batch; ++b) {
      const std::size_t at = 1 + random.below(text.size() - 1);
      previous[b] = static_cast<unsigned char>(text[at - 1]);
      targets[b] = static_cast<unsigned char>(text[at]);
    }
    // Forward: hidden = embedding[previous], logits = hidden * output^T.
    for (std::size_t b = 0; b < batch; ++b)
      for (std::size_t k = 0; k < width; ++k)
        hidden[b * width + k] = embedding[static_cast<std::size_t>(previous[b]) * width + k];
    for (std::size_t b = 0; b < batch; ++b)
      for (std::size_t v = 0; v < vocabulary; ++v) {
        float dot = 0.0f;
        for (std::size_t k = 0; k < width; ++k) dot += hidden[b * width + k] * output[v * width + k];
        logits[b * vocabulary + v] = 8.0f * dot;
      }
    // Loss on the softcapped logits; the gradient overwrites the logits (in place).
    const softxent::matrix view(logits.data(), batch, vocabulary);
    const softxent::status status = softxent::cross_entropy(view, targets.data(), &loss, view, options);
    if (status != softxent::status::ok) {
      std::printf("cross_entropy failed: %s\n", softxent::status_string(status));
      return 1;
    }
    if (step == 0) first_loss = loss;
    if (step % 50 == 0 || step + 1 == steps) std::printf("step %4d  loss %.4f\n", step, static_cast<double>(loss));
    // Backward through logits = 8 * hidden * output^T, then SGD.
    for (float& g : grad_hidden) g = 0.0f;
    for (std::size_t b = 0; b < batch; ++b)
      for (std::size_t v = 0; v < vocabulary; ++v) {
        const float g = 8.0f * logits[b * vocabulary + v];
        for (std::size_t k = 0; k < width; ++k) {
          grad_hidden[b * width + k] += g * output[v * width + k];
          output[v * width + k] -= rate * g * hidden[b * width + k];
        }
      }
    for (std::size_t b = 0; b < batch; ++b)
      for (std::size_t k = 0; k < width; ++k)
        embedding[static_cast<std::size_t>(previous[b]) * width + k] -= rate * grad_hidden[b * width + k];
  }
  std::printf("loss %.4f -> %.4f (uniform over 256 bytes: %.4f)\n", static_cast<double>(first_loss),
              static_cast<double>(loss), std::log(256.0));
  return loss < 0.8f * first_loss ? 0 : 1;
}
