#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian 12 machine: installs what is missing, configures and
# builds Release, and runs every test through ctest (ending in ctest's summary).
# Environment: SOFTXENT_WERROR=1 treats warnings as errors (CI sets it).
# CI (.ci/run) then runs the same suite under sanitizers, on emulated CPUs and the fuzzer.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
softxent_require_packages "${SOFTXENT_BUILD_PACKAGES[@]}" "${SOFTXENT_TEST_PACKAGES[@]}"

preset=release
extra=()
[ "${SOFTXENT_WERROR:-0}" = 1 ] && extra+=(-DSOFTXENT_WARNINGS_AS_ERRORS=ON)
cmake --preset "$preset" "${extra[@]}"
cmake --build --preset "$preset" -j "$(nproc)"
ctest --preset "$preset"
