#!/usr/bin/env bash
# Fuzzes softxent's C API for SECONDS (default 60): builds the libFuzzer target (preset fuzz: clang,
# ASan, UBSan), starts from the committed seed corpus fuzz/corpus, and exits 0 when nothing was found.
# New coverage goes to build/fuzz/corpus (not committed); a failing input is saved as
# build/fuzz/artifacts/crash-* (replay: build/fuzz/fuzz/softxent_fuzz_c_api FILE). Copy inputs worth
# keeping into fuzz/corpus: the reliability tests replay it in every build.
# Environment: FUZZ_JOBS=N runs N fuzzing processes (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
source scripts/deps.sh
softxent_require_packages "${SOFTXENT_BUILD_PACKAGES[@]}" "${SOFTXENT_CI_PACKAGES[@]}"

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"

binary=build/fuzz/fuzz/softxent_fuzz_c_api
corpus=build/fuzz/corpus
artifacts=build/fuzz/artifacts
mkdir -p "$corpus" "$artifacts"
jobs=(); [ "${FUZZ_JOBS:-1}" -gt 1 ] && jobs=(-fork="$FUZZ_JOBS")
log=build/fuzz/last-run.log
echo "fuzz: running $binary for $seconds s (log: $log)"
set +e
ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:allocator_may_return_null=1" \
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" OMP_NUM_THREADS=2 \
  "$binary" "${jobs[@]}" -max_total_time="$seconds" -max_len=512 -timeout=60 -rss_limit_mb=4096 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" fuzz/corpus >"$log" 2>&1
status=$?
set -e
grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^Done [0-9]+ runs|stat::number_of_executed_units|stat::new_units_added' "$log" || true
if [ $status -ne 0 ]; then
  tail -n 60 "$log"
  echo "fuzz: FAILED (exit $status); the input is in $artifacts/"
  exit 1
fi
echo "fuzz: nothing found in $seconds s"
