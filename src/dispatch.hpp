// Choosing the kernel table of a call: CPU detection (once), exec.isa, then SOFTXENT_ISA.
#ifndef SOFTXENT_SRC_DISPATCH_HPP
#define SOFTXENT_SRC_DISPATCH_HPP

#include "kernel_table.hpp"
#include "softxent/softxent.hpp"

namespace softxent::detail {

struct table_choice {
  status result;               // ok, invalid_option (unknown name) or unsupported_isa
  const kernel_table* table;   // set when result is ok
};

// The table for an ISA name: nullptr or "auto" means SOFTXENT_ISA from the environment if set (and
// not "auto"), else the best the CPU and build have.
table_choice choose_table(const char* isa_name) noexcept;

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_DISPATCH_HPP
