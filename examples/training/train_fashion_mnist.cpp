// Training with softxent's fused cross-entropy: a softmax classifier (or a network with one hidden
// ReLU layer) on Fashion-MNIST, by minibatch SGD with momentum and a cosine learning-rate decay.
//
// Each step: logits = forward(images); one softxent::cross_entropy call returns the mean loss and
// overwrites the logits with d loss / d logits = (softmax - onehot) / rows; backpropagation takes it
// from there. Before training, the whole gradient (softxent's and the backpropagation's) is checked
// once against finite differences of an independent double-precision loss.
//
// Data: Fashion-MNIST's IDX files (Debian's dataset-fashion-mnist), or synthetic images when they are
// absent. Matrix products: OpenBLAS when the build found it, plain loops otherwise.
//
//   train_fashion_mnist [--model softmax|mlp] [--epochs N] [--batch N] [--learning-rate X]
//                       [--weight-decay X] [--label-smoothing X] [--hidden N] [--train-limit N]
//                       [--test-limit N] [--threads N] [--seed N] [--data DIR] [--synthetic]
//                       [--quick] [--min-accuracy X]
// --quick trains one epoch on 10000 images and tests on 2000 (the test suite's run); --min-accuracy
// makes the program fail when the final test accuracy is below X (a fraction, e.g. 0.84).
#include <softxent/softxent.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../random.hpp"
#include "dataset.hpp"
#include "matrix_product.hpp"

#ifndef SOFTXENT_EXAMPLE_FASHION_MNIST_DIR
#define SOFTXENT_EXAMPLE_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
#endif

namespace {

using training::matrix_product;
using training::transpose;

struct settings {
  std::string model = "softmax";
  std::size_t epochs = 0;  // 0: the model's default
  std::size_t batch = 128;
  float learning_rate = 0.0f;  // 0: the model's default
  float momentum = 0.9f;
  float weight_decay = 1e-4f;
  float label_smoothing = 0.0f;
  std::size_t hidden = 256;
  std::size_t train_limit = 0;
  std::size_t test_limit = 0;
  int threads = 0;
  std::uint64_t seed = 1;
  std::string data_directory = SOFTXENT_EXAMPLE_FASHION_MNIST_DIR;
  bool synthetic = false;
  double min_accuracy = 0.0;
};

[[noreturn]] void usage_error(const char* program, const std::string& message) {
  std::fprintf(stderr, "%s: %s\nusage: %s [--model softmax|mlp] [--epochs N] [--batch N] [--learning-rate X]\n"
                       "  [--weight-decay X] [--label-smoothing X] [--hidden N] [--train-limit N] [--test-limit N]\n"
                       "  [--threads N] [--seed N] [--data DIR] [--synthetic] [--quick] [--min-accuracy X]\n",
               program, message.c_str(), program);
  std::exit(2);
}

settings parse_arguments(int argc, char** argv) {
  settings parsed;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(argv[0], flag + " needs a value");
      return argv[++i];
    };
    const auto count = [&]() -> std::size_t { return std::strtoull(value().c_str(), nullptr, 10); };
    if (flag == "--model") parsed.model = value();
    else if (flag == "--epochs") parsed.epochs = count();
    else if (flag == "--batch") parsed.batch = count();
    else if (flag == "--learning-rate") parsed.learning_rate = std::strtof(value().c_str(), nullptr);
    else if (flag == "--weight-decay") parsed.weight_decay = std::strtof(value().c_str(), nullptr);
    else if (flag == "--label-smoothing") parsed.label_smoothing = std::strtof(value().c_str(), nullptr);
    else if (flag == "--hidden") parsed.hidden = count();
    else if (flag == "--train-limit") parsed.train_limit = count();
    else if (flag == "--test-limit") parsed.test_limit = count();
    else if (flag == "--threads") parsed.threads = static_cast<int>(count());
    else if (flag == "--seed") parsed.seed = count();
    else if (flag == "--data") parsed.data_directory = value();
    else if (flag == "--synthetic") parsed.synthetic = true;
    else if (flag == "--min-accuracy") parsed.min_accuracy = std::strtod(value().c_str(), nullptr);
    else if (flag == "--quick") {
      parsed.epochs = 1;
      parsed.train_limit = 10000;
      parsed.test_limit = 2000;
    } else {
      usage_error(argv[0], "unknown argument " + flag);
    }
  }
  if (parsed.model != "softmax" && parsed.model != "mlp") usage_error(argv[0], "--model is softmax or mlp");
  if (parsed.batch == 0 || parsed.hidden == 0) usage_error(argv[0], "--batch and --hidden must be positive");
  if (parsed.model == "softmax") {
    if (parsed.epochs == 0) parsed.epochs = 15;
    if (parsed.learning_rate == 0.0f) parsed.learning_rate = 0.02f;
  } else {
    if (parsed.epochs == 0) parsed.epochs = 10;
    if (parsed.learning_rate == 0.0f) parsed.learning_rate = 0.05f;
  }
  return parsed;
}

void check(softxent::status status, const char* what) {
  if (status != softxent::status::ok) {
    std::fprintf(stderr, "%s failed: %s\n", what, softxent::status_string(status));
    std::exit(1);
  }
}

// y = x W + b, with W stored inputs x outputs.
struct dense_layer {
  std::size_t inputs = 0;
  std::size_t outputs = 0;
  std::vector<float> weights;
  std::vector<float> bias;
  std::vector<float> weight_gradient;
  std::vector<float> bias_gradient;
  std::vector<float> weight_velocity;
  std::vector<float> bias_velocity;

  dense_layer(std::size_t inputs_, std::size_t outputs_, examples::random_generator& random)
      : inputs(inputs_),
        outputs(outputs_),
        weights(inputs_ * outputs_),
        bias(outputs_, 0.0f),
        weight_gradient(weights.size()),
        bias_gradient(outputs_),
        weight_velocity(weights.size(), 0.0f),
        bias_velocity(outputs_, 0.0f) {
    // Glorot's uniform initialization.
    const double limit = std::sqrt(6.0 / static_cast<double>(inputs_ + outputs_));
    for (float& weight : weights) weight = static_cast<float>(limit * (2.0 * random.uniform() - 1.0));
  }
};

// Dense layers with ReLU between them: one layer is the softmax classifier (the softmax itself lives
// in the loss), two make the one-hidden-layer network.
class network {
 public:
  network(const std::vector<std::size_t>& widths, std::uint64_t seed) {
    examples::random_generator random(seed);
    for (std::size_t i = 0; i + 1 < widths.size(); ++i) layers.emplace_back(widths[i], widths[i + 1], random);
    outputs_.resize(layers.size());
    deltas_.resize(layers.size());
  }

  std::size_t classes() const { return layers.back().outputs; }

  // The logits of rows inputs (rows x classes, in a buffer the network owns until the next call).
  float* forward(const float* inputs, std::size_t rows) {
    const float* layer_input = inputs;
    for (std::size_t l = 0; l < layers.size(); ++l) {
      const dense_layer& layer = layers[l];
      std::vector<float>& output = outputs_[l];
      output.resize(rows * layer.outputs);
      for (std::size_t r = 0; r < rows; ++r) std::copy(layer.bias.begin(), layer.bias.end(), &output[r * layer.outputs]);
      matrix_product(transpose::no, transpose::no, rows, layer.outputs, layer.inputs, layer_input, layer.inputs,
                     layer.weights.data(), layer.outputs, 1.0f, output.data(), layer.outputs);
      if (l + 1 < layers.size()) {
        for (float& value : output) value = std::max(value, 0.0f);
      }
      layer_input = output.data();
    }
    return outputs_.back().data();
  }

  // Fills every layer's gradients, given that the buffer forward() returned now holds d loss / d logits.
  void backward(const float* inputs, std::size_t rows) {
    const float* delta = outputs_.back().data();  // d loss / d (this layer's output before its ReLU)
    for (std::size_t l = layers.size(); l-- > 0;) {
      dense_layer& layer = layers[l];
      const float* layer_input = l == 0 ? inputs : outputs_[l - 1].data();
      // dW = input^T delta, db = column sums of delta.
      matrix_product(transpose::yes, transpose::no, layer.inputs, layer.outputs, rows, layer_input, layer.inputs,
                     delta, layer.outputs, 0.0f, layer.weight_gradient.data(), layer.outputs);
      std::fill(layer.bias_gradient.begin(), layer.bias_gradient.end(), 0.0f);
      for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t j = 0; j < layer.outputs; ++j) layer.bias_gradient[j] += delta[r * layer.outputs + j];
      }
      if (l == 0) break;
      // d loss / d input = delta W^T, through the previous layer's ReLU (zero where it was off).
      std::vector<float>& previous_delta = deltas_[l - 1];
      previous_delta.resize(rows * layer.inputs);
      matrix_product(transpose::no, transpose::yes, rows, layer.inputs, layer.outputs, delta, layer.outputs,
                     layer.weights.data(), layer.outputs, 0.0f, previous_delta.data(), layer.inputs);
      const std::vector<float>& activation = outputs_[l - 1];
      for (std::size_t i = 0; i < previous_delta.size(); ++i) {
        if (activation[i] <= 0.0f) previous_delta[i] = 0.0f;
      }
      delta = previous_delta.data();
    }
  }

  // SGD with momentum; weight decay on the weights, not the biases.
  void step(float learning_rate, float momentum, float weight_decay) {
    for (dense_layer& layer : layers) {
      for (std::size_t i = 0; i < layer.weights.size(); ++i) {
        const float gradient = layer.weight_gradient[i] + weight_decay * layer.weights[i];
        layer.weight_velocity[i] = momentum * layer.weight_velocity[i] + gradient;
        layer.weights[i] -= learning_rate * layer.weight_velocity[i];
      }
      for (std::size_t j = 0; j < layer.outputs; ++j) {
        layer.bias_velocity[j] = momentum * layer.bias_velocity[j] + layer.bias_gradient[j];
        layer.bias[j] -= learning_rate * layer.bias_velocity[j];
      }
    }
  }

  std::vector<dense_layer> layers;

 private:
  std::vector<std::vector<float>> outputs_;  // each layer's output (after ReLU for hidden layers)
  std::vector<std::vector<float>> deltas_;   // gradients with respect to hidden layers' outputs
};

// The mean cross-entropy of the network on rows inputs, computed independently of softxent and of
// the float forward pass: in double, with parameter `index` of layer `layer_index` (weights first,
// then biases) moved by `shift`.
double reference_loss(const network& net, const float* inputs, const std::int64_t* labels, std::size_t rows,
                      std::size_t layer_index, std::size_t index, double shift) {
  double total = 0.0;
  for (std::size_t r = 0; r < rows; ++r) {
    std::vector<double> activation(inputs + r * net.layers[0].inputs, inputs + (r + 1) * net.layers[0].inputs);
    for (std::size_t l = 0; l < net.layers.size(); ++l) {
      const dense_layer& layer = net.layers[l];
      const auto parameter = [&](std::size_t i, double value) {
        return l == layer_index && i == index ? value + shift : value;
      };
      std::vector<double> output(layer.outputs);
      for (std::size_t j = 0; j < layer.outputs; ++j) {
        double sum = parameter(layer.weights.size() + j, layer.bias[j]);
        for (std::size_t i = 0; i < layer.inputs; ++i) {
          sum += activation[i] * parameter(i * layer.outputs + j, layer.weights[i * layer.outputs + j]);
        }
        output[j] = l + 1 < net.layers.size() ? std::max(sum, 0.0) : sum;
      }
      activation = std::move(output);
    }
    const double largest = *std::max_element(activation.begin(), activation.end());
    double sum_of_exponentials = 0.0;
    for (const double logit : activation) sum_of_exponentials += std::exp(logit - largest);
    total += largest + std::log(sum_of_exponentials) - activation[static_cast<std::size_t>(labels[r])];
  }
  return total / static_cast<double>(rows);
}

// Compares the analytic gradient (softxent's fused loss gradient, then backpropagation) on a few rows
// with central differences of reference_loss, for a sample of parameters in every layer, including
// each layer's largest gradient. Returns whether all agree.
bool check_gradient(network& net, const training::dataset& data, const softxent::exec_options& exec) {
  const std::size_t rows = std::min<std::size_t>(8, data.rows);
  const std::size_t classes = net.classes();
  float* logits = net.forward(data.inputs.data(), rows);
  float loss = 0.0f;
  const softxent::matrix logits_view(logits, rows, classes);
  check(softxent::cross_entropy(logits_view, data.labels.data(), &loss, logits_view, {}, exec), "cross_entropy");
  net.backward(data.inputs.data(), rows);

  examples::random_generator random(99);
  const double step = 1e-5;
  double worst_error = 0.0;
  std::size_t checked = 0;
  bool agree = true;
  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    const dense_layer& layer = net.layers[l];
    std::vector<std::size_t> indices;
    for (int i = 0; i < 4; ++i) indices.push_back(random.below(layer.weights.size()));
    for (int i = 0; i < 2; ++i) indices.push_back(layer.weights.size() + random.below(layer.outputs));
    indices.push_back(static_cast<std::size_t>(
        std::max_element(layer.weight_gradient.begin(), layer.weight_gradient.end(),
                         [](float a, float b) { return std::fabs(a) < std::fabs(b); }) -
        layer.weight_gradient.begin()));
    for (const std::size_t index : indices) {
      const double analytic = index < layer.weights.size() ? layer.weight_gradient[index]
                                                            : layer.bias_gradient[index - layer.weights.size()];
      const double numeric = (reference_loss(net, data.inputs.data(), data.labels.data(), rows, l, index, step) -
                              reference_loss(net, data.inputs.data(), data.labels.data(), rows, l, index, -step)) /
                             (2.0 * step);
      const double error = std::fabs(analytic - numeric);
      worst_error = std::max(worst_error, error / std::max(std::fabs(numeric), 1e-3));
      agree = agree && error <= 1e-6 + 1e-3 * std::fabs(numeric);
      ++checked;
    }
  }
  std::printf("gradient check on %zu rows: %zu parameters against central differences in double, worst relative "
              "error %.2e: %s\n",
              rows, checked, worst_error, agree ? "ok" : "MISMATCH");
  return agree;
}

struct evaluation {
  double loss = 0.0;
  double accuracy = 0.0;
};

evaluation evaluate(network& net, const training::dataset& data, const softxent::exec_options& exec) {
  const std::size_t batch = 1000;
  const std::size_t classes = net.classes();
  softxent::cross_entropy_options sum_of_losses;
  sum_of_losses.reduction = softxent::reduction::sum;
  double total_loss = 0.0;
  std::size_t correct = 0;
  for (std::size_t first = 0; first < data.rows; first += batch) {
    const std::size_t rows = std::min(batch, data.rows - first);
    const float* logits = net.forward(&data.inputs[first * data.features], rows);
    float loss = 0.0f;
    check(softxent::cross_entropy({logits, rows, classes}, &data.labels[first], &loss, {nullptr, rows, classes},
                                  sum_of_losses, exec),
          "cross_entropy");
    total_loss += loss;
    for (std::size_t r = 0; r < rows; ++r) {
      const float* row = logits + r * classes;
      const auto predicted = std::max_element(row, row + classes) - row;
      if (predicted == data.labels[first + r]) ++correct;
    }
  }
  const double count = static_cast<double>(data.rows);
  return {total_loss / count, static_cast<double>(correct) / count};
}

// Minibatch SGD over a training set: each epoch visits it in a fresh random order, and the learning
// rate follows a cosine from its initial value down to 0 over all the epochs' steps.
class trainer {
 public:
  trainer(network& net, const training::dataset& data, const settings& options, const softxent::exec_options& exec)
      : net_(net),
        data_(data),
        options_(options),
        exec_(exec),
        order_(data.rows),
        batch_inputs_(options.batch * data.features),
        batch_labels_(options.batch),
        shuffler_(options.seed + 1),
        total_steps_(options.epochs * ((data.rows + options.batch - 1) / options.batch)) {
    for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
    loss_options_.label_smoothing = options.label_smoothing;
  }

  // One pass over the training set; returns its mean loss.
  double run_epoch() {
    const std::size_t features = data_.features;
    for (std::size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[shuffler_.below(i)]);
    double loss_sum = 0.0;
    for (std::size_t first = 0; first < data_.rows; first += options_.batch) {
      const std::size_t rows = std::min(options_.batch, data_.rows - first);
      for (std::size_t r = 0; r < rows; ++r) {
        const std::size_t source = order_[first + r];
        std::memcpy(&batch_inputs_[r * features], &data_.inputs[source * features], features * sizeof(float));
        batch_labels_[r] = data_.labels[source];
      }
      // The fused call: the mean loss, and its gradient written over the logits.
      const softxent::matrix logits(net_.forward(batch_inputs_.data(), rows), rows, net_.classes());
      float loss = 0.0f;
      check(softxent::cross_entropy(logits, batch_labels_.data(), &loss, logits, loss_options_, exec_),
            "cross_entropy");
      loss_sum += static_cast<double>(loss) * static_cast<double>(rows);
      net_.backward(batch_inputs_.data(), rows);
      net_.step(learning_rate(), options_.momentum, options_.weight_decay);
      ++step_;
    }
    return loss_sum / static_cast<double>(data_.rows);
  }

 private:
  float learning_rate() const {
    const double pi = std::acos(-1.0);
    const double progress = static_cast<double>(step_) / static_cast<double>(total_steps_);
    return static_cast<float>(options_.learning_rate * 0.5 * (1.0 + std::cos(pi * progress)));
  }

  network& net_;
  const training::dataset& data_;
  const settings& options_;
  const softxent::exec_options& exec_;
  softxent::cross_entropy_options loss_options_;
  std::vector<std::size_t> order_;
  std::vector<float> batch_inputs_;
  std::vector<std::int64_t> batch_labels_;
  examples::random_generator shuffler_;
  std::size_t total_steps_;
  std::size_t step_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const settings options = parse_arguments(argc, argv);
  softxent::exec_options exec;
  exec.threads = options.threads;

  training::train_test_split data;
  std::string why;
  if (options.synthetic || !training::load_fashion_mnist(options.data_directory, &data, &why)) {
    if (!options.synthetic) std::printf("Fashion-MNIST not loaded (%s): using synthetic data\n", why.c_str());
    data = training::make_synthetic(6000, 1000, options.seed);
  }
  training::truncate(&data.train, options.train_limit);
  training::truncate(&data.test, options.test_limit);
  training::standardize(&data);

  std::vector<std::size_t> widths = {data.train.features};
  if (options.model == "mlp") widths.push_back(options.hidden);
  widths.push_back(data.classes);
  network net(widths, options.seed);
  std::printf("softxent %s (%s), matrix products: %s\n", softxent::version(), softxent::isa(exec),
              training::matrix_product_backend());
  std::printf("data: %s; training on %zu images, testing on %zu\n", data.description.c_str(), data.train.rows,
              data.test.rows);
  std::printf("model: %s; %zu epochs, batch %zu, learning rate %g, momentum %g, weight decay %g, label smoothing %g\n",
              options.model == "mlp" ? ("one hidden layer of " + std::to_string(options.hidden) + " ReLU units").c_str()
                                     : "softmax classifier",
              options.epochs, options.batch, static_cast<double>(options.learning_rate),
              static_cast<double>(options.momentum), static_cast<double>(options.weight_decay),
              static_cast<double>(options.label_smoothing));

  if (!check_gradient(net, data.train, exec)) return 1;

  trainer sgd(net, data.train, options, exec);
  const auto start = std::chrono::steady_clock::now();
  evaluation test;
  for (std::size_t epoch = 1; epoch <= options.epochs; ++epoch) {
    const auto epoch_start = std::chrono::steady_clock::now();
    const double train_loss = sgd.run_epoch();
    test = evaluate(net, data.test, exec);
    const std::chrono::duration<double> epoch_time = std::chrono::steady_clock::now() - epoch_start;
    std::printf("epoch %2zu/%zu  train loss %.4f  test loss %.4f  test accuracy %.2f%%  (%.1f s)\n", epoch,
                options.epochs, train_loss, test.loss, 100.0 * test.accuracy, epoch_time.count());
    std::fflush(stdout);
  }
  const std::chrono::duration<double> total_time = std::chrono::steady_clock::now() - start;
  std::printf("final test accuracy %.2f%% after %zu epochs in %.1f s\n", 100.0 * test.accuracy, options.epochs,
              total_time.count());
  if (test.accuracy < options.min_accuracy) {
    std::printf("below the required %.2f%%\n", 100.0 * options.min_accuracy);
    return 1;
  }
  return 0;
}
