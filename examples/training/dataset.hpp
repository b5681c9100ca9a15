// Image classification data for the training example: Fashion-MNIST read from its IDX files, or a
// small synthetic stand-in of the same shape when the files (or zlib, for the .gz ones) are absent.
#ifndef SOFTXENT_EXAMPLES_TRAINING_DATASET_HPP
#define SOFTXENT_EXAMPLES_TRAINING_DATASET_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace training {

struct dataset {
  std::size_t rows = 0;
  std::size_t features = 0;       // pixels per image
  std::vector<float> inputs;      // rows x features, row-major
  std::vector<std::int64_t> labels;  // rows class indices
};

struct train_test_split {
  dataset train;
  dataset test;
  std::size_t classes = 0;
  std::string description;  // where the data came from
};

// Reads train-images-idx3-ubyte(.gz), train-labels-idx1-ubyte(.gz), t10k-... from directory: gzipped
// files need zlib; uncompressed ones are read as they are. Pixels become floats in [0, 1].
// Returns false (with the reason in *why) when any file is missing or malformed.
bool load_fashion_mnist(const std::string& directory, train_test_split* data, std::string* why);

// Ten classes of 28 x 28 "images" in [0, 1]: one base image, a faint pattern per class, a random
// brightness per image and strong noise, so that a linear model separates most but not all of them.
train_test_split make_synthetic(std::size_t train_rows, std::size_t test_rows, std::uint64_t seed);

// Keeps the first rows of a dataset (all of them if rows is 0 or larger than the dataset).
void truncate(dataset* data, std::size_t rows);

// Standardizes every input with the training set's mean and standard deviation over all pixels.
void standardize(train_test_split* data);

}  // namespace training

#endif  // SOFTXENT_EXAMPLES_TRAINING_DATASET_HPP
