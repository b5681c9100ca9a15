// What the files of softxent_bench_pytorch share (bench_pytorch.cpp and the composites of the top-k,
// sampling and transform cases): the implementation's name, tensors over the benchmarks' buffers, and
// registering a PyTorch case with ATen's thread count and its exceptions turned into skips.
#ifndef SOFTXENT_BENCH_PYTORCH_HPP
#define SOFTXENT_BENCH_PYTORCH_HPP

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

#include "bench_support.hpp"

namespace softxent_bench {

// "pytorch", or "pytorch-<capability>" when ATEN_CPU_CAPABILITY is set.
std::string pytorch_implementation_name();

// A tensor over rows x cols elements of `type` at data (densely packed), or over rows values.
at::Tensor matrix_tensor(const void* data, const shape& s, at::ScalarType type = at::kFloat);
at::Tensor row_tensor(const void* data, const shape& s, at::ScalarType type = at::kFloat);

// A number as a 0-dim tensor of `type`, to multiply or divide by: what Python passes for a float (a
// wrapped number tensor). ATen 1.13's C++ Scalar overloads (at::mul(x, 0.5), at::mul_out(out, x, 0.5))
// take a path that is 50 times slower on some shapes (100 ms instead of 2 for 16384 x 512 floats on one
// thread), which no Python user meets.
at::Tensor number_tensor(double value, at::ScalarType type = at::kFloat);

// Registers body (which times itself) as implementation for every case of the set, with ATen's thread
// count set to the case's first; a PyTorch exception skips the benchmark with its message.
void register_pytorch_cases(const operation_traits& op, const std::string& implementation, case_body body,
                            const case_set& cases = {});

// The registrations of the composites' files, called by bench_pytorch.cpp's main.
void register_pytorch_sampling_benchmarks();   // bench_pytorch_sampling.cpp
void register_pytorch_transform_benchmarks();  // bench_pytorch_transform.cpp

}  // namespace softxent_bench

#endif  // SOFTXENT_BENCH_PYTORCH_HPP
