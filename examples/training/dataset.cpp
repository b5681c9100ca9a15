#include "dataset.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>

#ifdef SOFTXENT_EXAMPLE_HAVE_ZLIB
#include <zlib.h>
#endif

#include "../random.hpp"

namespace training {
namespace {

bool read_file(const std::string& path, std::vector<unsigned char>* bytes) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return false;
  bytes->assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  return true;
}

#ifdef SOFTXENT_EXAMPLE_HAVE_ZLIB
bool read_gzip_file(const std::string& path, std::vector<unsigned char>* bytes) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) return false;
  bytes->clear();
  unsigned char buffer[1 << 16];
  int count = 0;
  while ((count = gzread(file, buffer, sizeof buffer)) > 0) {
    bytes->insert(bytes->end(), buffer, buffer + count);
  }
  const bool complete = count == 0;
  gzclose(file);
  return complete;
}
#endif

// The file's bytes from NAME.gz (with zlib) or NAME, whichever exists first.
bool read_idx_bytes(const std::string& directory, const std::string& name, std::vector<unsigned char>* bytes,
                    std::string* why) {
  const std::string path = directory + "/" + name;
#ifdef SOFTXENT_EXAMPLE_HAVE_ZLIB
  if (read_gzip_file(path + ".gz", bytes)) return true;
#endif
  if (read_file(path, bytes)) return true;
#ifdef SOFTXENT_EXAMPLE_HAVE_ZLIB
  *why = "cannot read " + path + ".gz or " + path;
#else
  *why = "cannot read " + path + " (built without zlib: .gz files are not read)";
#endif
  return false;
}

std::uint32_t big_endian_u32(const unsigned char* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) | (std::uint32_t{bytes[2]} << 8) |
         std::uint32_t{bytes[3]};
}

// IDX: a 4-byte magic (0, 0, type 0x08 = unsigned byte, number of dimensions), one big-endian 32-bit
// size per dimension, then the data. Returns the sizes and leaves the data's offset in *data_offset.
bool parse_idx(const std::vector<unsigned char>& bytes, std::size_t dimensions, std::vector<std::size_t>* sizes,
               std::size_t* data_offset) {
  const std::size_t header = 4 + 4 * dimensions;
  if (bytes.size() < header || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || bytes[3] != dimensions) {
    return false;
  }
  std::size_t elements = 1;
  sizes->clear();
  for (std::size_t d = 0; d < dimensions; ++d) {
    sizes->push_back(big_endian_u32(&bytes[4 + 4 * d]));
    elements *= sizes->back();
  }
  *data_offset = header;
  return bytes.size() == header + elements;
}

bool load_split(const std::string& directory, const std::string& prefix, dataset* data, std::string* why) {
  std::vector<unsigned char> images;
  std::vector<unsigned char> labels;
  if (!read_idx_bytes(directory, prefix + "-images-idx3-ubyte", &images, why) ||
      !read_idx_bytes(directory, prefix + "-labels-idx1-ubyte", &labels, why)) {
    return false;
  }
  std::vector<std::size_t> image_sizes;
  std::vector<std::size_t> label_sizes;
  std::size_t image_offset = 0;
  std::size_t label_offset = 0;
  if (!parse_idx(images, 3, &image_sizes, &image_offset) || !parse_idx(labels, 1, &label_sizes, &label_offset) ||
      image_sizes[0] != label_sizes[0]) {
    *why = "malformed IDX files for " + prefix + " in " + directory;
    return false;
  }
  data->rows = image_sizes[0];
  data->features = image_sizes[1] * image_sizes[2];
  data->inputs.resize(data->rows * data->features);
  for (std::size_t i = 0; i < data->inputs.size(); ++i) {
    data->inputs[i] = static_cast<float>(images[image_offset + i]) / 255.0f;
  }
  data->labels.resize(data->rows);
  for (std::size_t i = 0; i < data->rows; ++i) data->labels[i] = labels[label_offset + i];
  return true;
}

}  // namespace

bool load_fashion_mnist(const std::string& directory, train_test_split* data, std::string* why) {
  if (!load_split(directory, "train", &data->train, why) || !load_split(directory, "t10k", &data->test, why)) {
    return false;
  }
  data->classes = 10;
  for (const dataset* split : {&data->train, &data->test}) {
    for (const std::int64_t label : split->labels) {
      if (label < 0 || label >= static_cast<std::int64_t>(data->classes)) {
        *why = "a label outside [0, 10) in " + directory;
        return false;
      }
    }
  }
  data->description = "Fashion-MNIST from " + directory;
  return true;
}

train_test_split make_synthetic(std::size_t train_rows, std::size_t test_rows, std::uint64_t seed) {
  const std::size_t classes = 10;
  const std::size_t features = 28 * 28;
  examples::random_generator random(seed);
  std::vector<double> base(features);
  for (double& pixel : base) pixel = 0.2 + 0.6 * random.uniform();
  std::vector<double> prototypes(classes * features);
  for (std::size_t i = 0; i < prototypes.size(); ++i) {
    prototypes[i] = base[i % features] + 0.2 * (random.uniform() - 0.5);
  }

  train_test_split data;
  data.classes = classes;
  data.description = "synthetic data (" + std::to_string(train_rows) + " training and " +
                     std::to_string(test_rows) + " test images)";
  for (dataset* split : {&data.train, &data.test}) {
    split->rows = split == &data.train ? train_rows : test_rows;
    split->features = features;
    split->inputs.resize(split->rows * features);
    split->labels.resize(split->rows);
    for (std::size_t r = 0; r < split->rows; ++r) {
      const std::size_t label = random.below(classes);
      const double brightness = 0.8 + 0.4 * random.uniform();
      split->labels[r] = static_cast<std::int64_t>(label);
      for (std::size_t f = 0; f < features; ++f) {
        const double noisy = brightness * prototypes[label * features + f] + 1.2 * (random.uniform() - 0.5);
        split->inputs[r * features + f] = static_cast<float>(std::fmin(1.0, std::fmax(0.0, noisy)));
      }
    }
  }
  return data;
}

void truncate(dataset* data, std::size_t rows) {
  if (rows == 0 || rows >= data->rows) return;
  data->rows = rows;
  data->inputs.resize(rows * data->features);
  data->labels.resize(rows);
}

void standardize(train_test_split* data) {
  double sum = 0.0;
  double sum_of_squares = 0.0;
  for (const float value : data->train.inputs) {
    sum += value;
    sum_of_squares += static_cast<double>(value) * value;
  }
  const double count = static_cast<double>(data->train.inputs.size());
  const double mean = sum / count;
  const double deviation = std::sqrt(std::fmax(sum_of_squares / count - mean * mean, 1e-12));
  for (dataset* split : {&data->train, &data->test}) {
    for (float& value : split->inputs) value = static_cast<float>((value - mean) / deviation);
  }
}

}  // namespace training
