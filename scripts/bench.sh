#!/usr/bin/env bash
# Benchmarks softxent against its reference, the machine's floor, oneDNN and XNNPACK on a fresh Debian 12
# machine: installs what is missing, builds Release with the "bench" preset (softxent_bench and
# softxent_strategies, see docs/benchmarks/strategies.md), runs softxent_bench and
# prints the report table. The report (bench.json, report.json, report.md, report.png) goes to
# build/bench/report/.
#
# Usage: scripts/bench.sh [--full] [--shapes RxC,...] [--publish] [other softxent_bench options]
#   (default)   every operation x SPEC.md's shapes x 1 and all threads, softxent's default instruction set
#               and the reference, 5 repetitions: 2 to 3 minutes on a 2-core machine
#   --full      every instruction set, 9 repetitions, longer runs: about 15 minutes
#   --shapes    more shapes, e.g. --shapes 1000x50257,7x13
#   --publish   also copy the report to docs/benchmarks/ (README.md, report.png, report.json), which the
#               project README links to
# Any other option goes to softxent_bench (see build/bench/bench/softxent_bench --help).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
# ocl-icd-opencl-dev: oneDNN's CMake config requires OpenCL, which libdnnl-dev only recommends.
softxent_require_packages "${SOFTXENT_BUILD_PACKAGES[@]}" libdnnl-dev ocl-icd-opencl-dev libxnnpack-dev \
  libpthreadpool-dev gnuplot-nox python3

run=(--repetitions=5 --min_time=0.03 --reference_min_time=0.002)
publish=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --full) run=(--isas=all --repetitions=9 --min_time=0.1 --reference_min_time=0.02) ;;
    --publish) publish=1 ;;
    --shapes) extra+=("--shapes=$2"); shift ;;
    *) extra+=("$1") ;;
  esac
  shift
done

out=build/bench/report
mkdir -p "$out"
echo "softxent: building the bench preset (log: $out/build.log)"
{ cmake --preset bench && cmake --build --preset bench -j "$(nproc)"; } >"$out/build.log" 2>&1 ||
  { tail -40 "$out/build.log"; exit 1; }
echo "softxent: running softxent_bench ${run[*]} ${extra[*]} (log: $out/bench.log)"
start=$(date +%s)
build/bench/bench/softxent_bench "${run[@]}" "${extra[@]}" \
  --benchmark_enable_random_interleaving=true --benchmark_display_aggregates_only=true \
  --benchmark_out="$out/bench.json" --benchmark_out_format=json >"$out/bench.log" 2>&1 ||
  { tail -20 "$out/bench.log"; exit 1; }
echo "softxent: benchmarks took $(($(date +%s) - start)) s"
python3 scripts/bench_report.py "$out/bench.json" --out "$out"

if [ "$publish" = 1 ]; then
  mkdir -p docs/benchmarks
  cp "$out/report.md" docs/benchmarks/README.md
  cp "$out/report.png" "$out/report.json" docs/benchmarks/
  echo "softxent: published docs/benchmarks/README.md, report.png and report.json"
fi
