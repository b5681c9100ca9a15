#include "transform_cases.hpp"

#include <cmath>
#include <limits>

namespace softxent_bench {

const std::vector<transform_case>& transform_cases() {
  const shape decode{32, 4096}, prefill{16384, 512}, single{1, 128256}, batch{64, 128256};
  const auto traits = [](const char* name, int matrices_read) {
    return operation_traits{name, matrices_read, 1, false, 0, true, f32, "softmax"};
  };
  static const std::vector<transform_case> cases = {
      {transform_kind::plain, traits("transform.plain", 1), {decode, prefill, single, batch}},
      {transform_kind::decode, traits("transform.decode", 1), {decode}},
      {transform_kind::prefill, traits("transform.prefill", 1), {prefill}},
      {transform_kind::temperature_mask, traits("transform.temperature_mask", 2), {single, batch}},
      {transform_kind::temperature_mask_row, traits("transform.temperature_mask_row", 1), {single, batch}},
      {transform_kind::temperature_softcap, traits("transform.temperature_softcap", 1), {single, batch}},
  };
  return cases;
}

transform_data::transform_data(const transform_case& c, const shape& s) : kind_(c.kind), shape_(s) {
  const float attention_scale = 1.0f / std::sqrt(128.0f);  // head_dim 128
  const float temperature_scale = 1.0f / 0.7f;
  switch (c.kind) {
    case transform_kind::plain:
      break;
    case transform_kind::decode:
      scale = attention_scale;
      // ALiBi: head h's bias is slope_h * (j - i) with slope_h = 2^(-8 (h + 1) / heads), i the query's
      // position (the last of the row's keys).
      mask_row.resize(s.cols);
      for (std::size_t j = 0; j < s.cols; ++j) mask_row[j] = static_cast<float>(j) - static_cast<float>(s.cols - 1);
      for (std::size_t h = 0; h < s.rows; ++h) {
        slopes.push_back(std::exp2(-8.0f * static_cast<float>(h + 1) / static_cast<float>(s.rows)));
        sinks.push_back(0.25f * static_cast<float>(h % 8));
      }
      valid_cols.assign(s.rows, static_cast<std::int64_t>(s.cols));
      break;
    case transform_kind::prefill:
      scale = attention_scale;
      prefill_queries = s.cols;
      for (std::size_t r = 0; r < s.rows; ++r) valid_cols.push_back(static_cast<std::int64_t>(r % s.cols + 1));
      break;
    case transform_kind::temperature_mask:
      scale = temperature_scale;
      break;
    case transform_kind::temperature_mask_row:
      scale = temperature_scale;
      mask_row.assign(s.cols, 0.0f);
      for (std::size_t j = 0; j < s.cols; j += 97) mask_row[j] = -std::numeric_limits<float>::infinity();
      break;
    case transform_kind::temperature_softcap:
      scale = temperature_scale;
      softcap = 30.0f;
      break;
  }
}

softxent::softmax_options transform_data::options(const buffer_sets& sets, std::size_t set) const noexcept {
  softxent::softmax_options o;
  o.scale = scale;
  o.softcap = softcap;
  if (kind_ == transform_kind::temperature_mask) {
    o.mask = sets.input_matrix(set, 1);
  } else if (!mask_row.empty()) {
    o.mask = softxent::const_matrix(mask_row.data(), 1, shape_.cols);
  }
  if (!slopes.empty() || !sinks.empty()) o.rows_per_head = 1;
  o.slopes = slopes.empty() ? nullptr : slopes.data();
  o.sinks = sinks.empty() ? nullptr : sinks.data();
  o.valid_cols = valid_cols.empty() ? nullptr : valid_cols.data();
  return o;
}

std::size_t transform_data::mask_bytes() const noexcept {
  if (kind_ == transform_kind::temperature_mask) return shape_.elements() * sizeof(float);
  return mask_row.size() * sizeof(float);
}

}  // namespace softxent_bench
