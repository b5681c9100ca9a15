// The entry points that belong to no operation family: status strings, the ISA a call would use and
// the version. The operations are in src/ops/, one file per family.
#include "dispatch.hpp"
#include "softxent/softxent.hpp"

#ifndef SOFTXENT_VERSION_STRING
#define SOFTXENT_VERSION_STRING "0.0.0"
#endif

namespace softxent {

const char* status_string(status s) noexcept {
  switch (s) {
    case status::ok: return "success";
    case status::null_pointer: return "a needed pointer is NULL while rows > 0";
    case status::invalid_shape: return "invalid shape: cols == 0 with rows > 0, a stride < cols, mismatched views, or a size that overflows";
    case status::invalid_target: return "invalid target: a class index outside [0, cols) that is not the ignore index";
    case status::invalid_option: return "invalid option: bad reduction, label smoothing, class weight, z_loss, logit_scale, softcap, transform, k, sampling option, thread count or ISA name";
    case status::unsupported_isa: return "unsupported instruction set: this build or CPU does not have it";
    case status::overlap: return "an output overlaps an input or another output (only exact in-place aliasing is allowed where stated)";
    case status::unsupported_dtype: return "unsupported dtype: an element type outside F32, F16 and BF16";
    case status::workspace: return "workspace is NULL or smaller than its size query says";
  }
  return "unknown status";
}

const char* isa(const exec_options& exec) noexcept {
  const detail::table_choice choice = detail::choose_table(exec.isa);
  return choice.result == status::ok ? choice.table->name : nullptr;
}

const char* version() noexcept { return SOFTXENT_VERSION_STRING; }

}  // namespace softxent
