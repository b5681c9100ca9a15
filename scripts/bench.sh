#!/usr/bin/env bash
# Benchmarks softxent against its reference, the machine's roof, oneDNN, XNNPACK and PyTorch on a fresh
# Debian 12 machine: installs what is missing, builds Release with the "bench" preset (softxent_bench,
# softxent_bench_pytorch and softxent_strategies, see docs/benchmarks/strategies.md), runs softxent_bench,
# then softxent_bench_pytorch twice in processes of their own (ATen's default dispatch, and
# ATEN_CPU_CAPABILITY=avx512 where the CPU has AVX-512), and prints the report: every operation (in f32;
# softmax, log_softmax and cross-entropy also in bf16 and f16, with a roof of their own bytes) x shape x
# thread count (1 and all cores) x regime (hot: the same buffers every call; cold: buffers rotated over
# 256 MiB), with the roof and the peers; then the tables of the cases timed against a
# softxent baseline of the same run: top-k and sampling over logsumexp of the same logits, beside
# PyTorch's composites (torch.topk + log_softmax; Hugging Face's warper chain); the logit transform
# (scale, softcap, masks, ALiBi, sinks, valid_cols) over plain softmax of the same shape, beside PyTorch's
# composite (mul, tanh, add, softmax). The report (the JSON
# outputs, report.json, report.md, report.png, readme.md) goes to build/bench/report/ (or --out DIR).
#
# Usage: scripts/bench.sh [--full] [--shapes RxC,...] [--out DIR] [--publish] [other benchmark options]
#   (default)   SPEC.md's shapes, softxent's default instruction set and the reference, 5 repetitions
#               (PyTorch's sampling composites 3), and the top-k, sampling and transform cases at their
#               own shapes: about 30 minutes on a 2-core machine
#   --full      every instruction set, 9 repetitions, longer time budgets
#   --shapes    more shapes, e.g. --shapes 1000x50257,7x13
#   --out       the report's directory instead of build/bench/report (e.g. one per filtered run)
#   --publish   also copy the report to docs/benchmarks/<cpu>/ (README.md, report.png, report.json) and
#               put this CPU's table in README.md's speed section (replacing an earlier one of this CPU)
# Any other option goes to both binaries (see build/bench/bench/softxent_bench --help), e.g.
#   --threads=1 --benchmark_filter='^sampling[.]'   the top-k and sampling cases alone, one thread
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
# ocl-icd-opencl-dev: oneDNN's CMake config requires OpenCL, which libdnnl-dev only recommends.
softxent_require_packages "${SOFTXENT_BUILD_PACKAGES[@]}" libdnnl-dev ocl-icd-opencl-dev libxnnpack-dev \
  libpthreadpool-dev libtorch-dev gnuplot-nox python3

run=(--repetitions=5 --min_time=0.04 --reference_min_time=0.002)
publish=0
out=build/bench/report
extra=()
command="scripts/bench.sh"
while [ $# -gt 0 ]; do
  command+=" $1"
  case "$1" in
    --full) run=(--isas=all --repetitions=9 --min_time=0.1 --reference_min_time=0.02) ;;
    --publish) publish=1 ;;
    --shapes) extra+=("--shapes=$2"); command+=" $2"; shift ;;
    --out) out="$2"; command+=" $2"; shift ;;
    *) extra+=("$1") ;;
  esac
  shift
done

bin=build/bench/bench
mkdir -p "$out"
rm -f "$out"/*.json
echo "softxent: building the bench preset (log: $out/build.log)"
{ cmake --preset bench && cmake --build --preset bench -j "$(nproc)"; } >"$out/build.log" 2>&1 ||
  { tail -40 "$out/build.log"; exit 1; }

# The CPU as lscpu names it, with its family and model (a VM may name Zen 4 and Zen 5 alike).
field() { lscpu | sed -n "s/^$1:[[:space:]]*//p" | head -1; }
cpu="$(field 'Model name') (family $(field 'CPU family'), model $(field 'Model'))"
echo "softxent: $cpu, load average $(cut -d' ' -f1-3 /proc/loadavg)"

google=(--benchmark_enable_random_interleaving=true --benchmark_display_aggregates_only=true
        --benchmark_out_format=json)
start=$(date +%s)
echo "softxent: running softxent_bench ${run[*]} ${extra[*]} (log: $out/softxent_bench.log)"
"$bin/softxent_bench" "${run[@]}" "${extra[@]}" "${google[@]}" --benchmark_out="$out/softxent_bench.json" \
  >"$out/softxent_bench.log" 2>&1 || { tail -20 "$out/softxent_bench.log"; exit 1; }
grep "^roof exp" "$out/softxent_bench.log" || true
outputs=("$out/softxent_bench.json")
if [ -x "$bin/softxent_bench_pytorch" ]; then
  levels=(default)
  grep -qw avx512f /proc/cpuinfo && levels+=(avx512)
  for level in "${levels[@]}"; do
    environment=(env -u ATEN_CPU_CAPABILITY)
    [ "$level" = default ] || environment=(env ATEN_CPU_CAPABILITY="$level")
    echo "softxent: running softxent_bench_pytorch at ATen's $level dispatch (log: $out/pytorch-$level.log)"
    "${environment[@]}" "$bin/softxent_bench_pytorch" "${run[@]}" "${extra[@]}" "${google[@]}" \
      --benchmark_out="$out/pytorch-$level.json" >"$out/pytorch-$level.log" 2>&1 ||
      { tail -20 "$out/pytorch-$level.log"; exit 1; }
    outputs+=("$out/pytorch-$level.json")
  done
else
  echo "softxent: softxent_bench_pytorch was not built (see $out/build.log): PyTorch not compared"
fi
echo "softxent: benchmarks took $(($(date +%s) - start)) s"

slug=$(echo "$cpu" | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9]\{1,\}/-/g; s/^-//; s/-$//')
details="docs/benchmarks/$slug/README.md"
report=(python3 scripts/bench_report.py "${outputs[@]}" --out "$out" --cpu "$cpu" --details "$details"
        --command "$command")
[ "$publish" = 1 ] && report+=(--readme README.md)
"${report[@]}"

if [ "$publish" = 1 ]; then
  mkdir -p "docs/benchmarks/$slug"
  cp "$out/report.md" "$details"
  cp "$out/report.png" "$out/report.json" "docs/benchmarks/$slug/"
  # The index of every CPU's report.
  {
    echo "# softxent benchmark reports, one per CPU"
    echo
    # Each CPU's full report (README.md), then the reports of single suites kept beside it (<suite>.md).
    for folder in docs/benchmarks/*/; do
      folder=${folder%/}
      if [ -f "$folder/README.md" ]; then
        echo "- [$(head -1 "$folder/README.md" | sed 's/^# //')](${folder#docs/benchmarks/}/README.md)"
      else
        echo "- ${folder#docs/benchmarks/}"
      fi
      for page in "$folder"/*.md; do
        [ "$(basename "$page")" = README.md ] || echo "  - [$(basename "$page" .md)](${page#docs/benchmarks/})"
      done
    done
    echo
    echo "The strategy comparison (three sweeps, online normalizer, two-pass): [strategies.md](strategies.md)."
  } >docs/benchmarks/README.md
  echo "softxent: published docs/benchmarks/$slug/ and this CPU's table in README.md"
fi
