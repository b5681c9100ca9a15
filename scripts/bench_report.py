#!/usr/bin/env python3
"""Turns softxent_bench's Google Benchmark JSON output into the benchmark report.

For each operation, shape and thread count: the median time of every implementation (softxent per
instruction set, the reference, oneDNN, XNNPACK), softxent's speed-up over the reference, its ratio
to the best other library, and its percentage of the machine's floor measured in the same run.
Prints the table and writes <out>/report.json, <out>/report.md and <out>/report.png (gnuplot).

Usage: bench_report.py BENCH_JSON [--out DIR] [--title TEXT]
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict

OPERATIONS = ["logsumexp", "softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
              "cross_entropy_loss", "cross_entropy_grad", "cross_entropy_soft"]
OTHER_LIBRARIES = ["onednn", "xnnpack"]
DISPLAY_NAMES = {"reference": "reference", "onednn": "oneDNN", "xnnpack": "XNNPACK"}


def display_name(implementation):
    if implementation.startswith("softxent-"):
        return "softxent " + implementation[len("softxent-"):]
    return DISPLAY_NAMES.get(implementation, implementation)


class Measurement:
    """The repetitions of one benchmark: its median time and the bytes and elements of one call."""

    def __init__(self):
        self.seconds = []
        self.bytes = 0.0
        self.elements = 0.0
        self.counters = {}
        self.error = None

    @property
    def median(self):
        return statistics.median(self.seconds) if self.seconds else None


def seconds_of(entry):
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[entry.get("time_unit", "ns")]
    return entry["real_time"] * scale


def load(path):
    """{(operation, implementation, shape, threads): Measurement} and the run's context."""
    with open(path) as f:
        data = json.load(f)
    runs = defaultdict(Measurement)
    for entry in data.get("benchmarks", []):
        if entry.get("run_type", "iteration") != "iteration":
            continue  # medians are taken here, from the repetitions themselves
        parts = entry["run_name"].split("/")
        if len(parts) < 4 or not parts[3].startswith("threads:"):
            continue
        key = (parts[0], parts[1], parts[2], int(parts[3].split(":")[1]))
        m = runs[key]
        if entry.get("error_occurred"):
            m.error = entry.get("error_message", "skipped")
            continue
        t = seconds_of(entry)
        m.seconds.append(t)
        m.bytes = entry.get("bytes_per_second", 0.0) * t
        m.elements = entry.get("items_per_second", 0.0) * t
        m.counters = {k: entry[k] for k in ("rows", "cols", "matrices_read", "matrices_written",
                                            "exp_per_element") if k in entry}
    return runs, data.get("context", {})


def shape_key(shape):
    rows, cols = (int(v) for v in shape.split("x"))
    return (cols, rows)


def best_rate(runs, kind, shape, threads, per_second):
    """The floor's best rate with at most `threads` threads: more threads can always idle, so a floor
    measured slower with more threads (a loaded machine) is replaced by the best with fewer. The exp
    floor is compute-bound and scales with cores: never below threads x the one-thread rate."""
    rates = []
    for (op, k, s, t), m in runs.items():
        if op == "floor" and k == kind and s == shape and t <= threads and m.median:
            rate = per_second(m) / m.median
            rates.append(rate * threads if kind == "exp" and t == 1 else rate)
    return max(rates) if rates else None


def floor_seconds(runs, op_run, shape, threads):
    """The floor of one operation: the slower of its memory floor and its exp floor, as seconds."""
    c = op_run.counters
    kind = "read" if c.get("matrices_written", 1) == 0 else ("add" if c.get("matrices_read", 1) == 2 else "copy")
    bounds = {}
    bandwidth = best_rate(runs, kind, shape, threads, lambda m: m.bytes)
    if bandwidth:
        bounds["memory " + kind] = op_run.bytes / bandwidth
    exp_rate = best_rate(runs, "exp", "l1", threads, lambda m: m.elements)
    if c.get("exp_per_element") and exp_rate:
        bounds["exp"] = op_run.elements / exp_rate
    if not bounds:
        return None, None
    which = max(bounds, key=bounds.get)
    return bounds[which], which


def build_rows(runs, context):
    """One row per operation, shape and thread count that softxent or another library ran."""
    implementations = sorted({k[1] for k in runs if k[0] != "floor"})
    default_isa = context.get("softxent_default_isa", "")
    softxent = [i for i in implementations if i.startswith("softxent-")]
    # The default ISA first: it is what a user gets and what the derived columns describe.
    strength = ["avx512", "avx2", "sse2", "neon", "scalar"]
    softxent.sort(key=lambda i: (i != "softxent-" + default_isa,
                                 strength.index(i[9:]) if i[9:] in strength else len(strength), i))
    columns = softxent + ["reference"] + [i for i in OTHER_LIBRARIES if i in implementations]
    main = softxent[0] if softxent else None

    rows = []
    operations = [o for o in OPERATIONS if any(k[0] == o for k in runs)]
    operations += sorted({k[0] for k in runs if k[0] not in OPERATIONS and k[0] != "floor"})
    for op in operations:
        cases = sorted({(k[2], k[3]) for k in runs if k[0] == op}, key=lambda c: (shape_key(c[0]), c[1]))
        for shape, threads in cases:
            times, errors = {}, {}
            for impl in columns:
                m = runs.get((op, impl, shape, threads))
                if m is None and impl == "reference":
                    m = runs.get((op, impl, shape, 1))  # the reference is single-threaded by design
                if m is None:
                    continue
                if m.error:
                    errors[impl] = m.error
                elif m.median:
                    times[impl] = m.median
            row = {"operation": op, "shape": shape, "threads": threads,
                   "median_us": {i: t * 1e6 for i, t in times.items()}, "errors": errors}
            main_run = runs.get((op, main, shape, threads)) if main else None
            if main in times:
                t = times[main]
                row["softxent_gb_per_s"] = main_run.bytes / t / 1e9
                if "reference" in times:
                    row["speedup_over_reference"] = times["reference"] / t
                others = [times[i] for i in OTHER_LIBRARIES if i in times]
                if others:
                    row["speedup_over_best_other"] = min(others) / t
                    row["best_other"] = min((times[i], i) for i in OTHER_LIBRARIES if i in times)[1]
                floor, bound = floor_seconds(runs, main_run, shape, threads)
                if floor:
                    row["floor_gb_per_s"] = main_run.bytes / floor / 1e9
                    row["floor_bound"] = bound
                    row["percent_of_floor"] = 100.0 * floor / t
            rows.append(row)
    return rows, columns, main


def geometric_mean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def summary(rows, main):
    """SPEC.md's targets, per thread count: percent of the floor from 128 classes up (target 70) and at
    10 classes (target 40), speed-up over the reference (target 10 on one thread), over the best other."""
    if main is None:
        return []
    lines = []
    for threads in sorted({r["threads"] for r in rows}):
        mine = [r for r in rows if r["threads"] == threads]
        parts = []
        for label, selected, target in (("from 128 classes", [r for r in mine if shape_key(r["shape"])[0] >= 128], 70),
                                        ("at 10 classes", [r for r in mine if shape_key(r["shape"])[0] == 10], 40)):
            floors = [(r["percent_of_floor"], r["operation"], r["shape"]) for r in selected if "percent_of_floor" in r]
            if floors:
                worst = min(floors)
                met = sum(1 for f in floors if f[0] >= target)
                parts.append(f"% of floor {label}: median {statistics.median(f[0] for f in floors):.0f}%, lowest "
                             f"{worst[0]:.0f}% ({worst[1]} {worst[2]}), {met}/{len(floors)} at the {target}% target")
        reference = [r["speedup_over_reference"] for r in mine if "speedup_over_reference" in r]
        if reference:
            parts.append(f"speed-up over the reference: geometric mean {geometric_mean(reference):.1f}x, "
                         f"lowest {min(reference):.1f}x")
        others = [r["speedup_over_best_other"] for r in mine if "speedup_over_best_other" in r]
        if others:
            parts.append(f"over the best other library: geometric mean {geometric_mean(others):.2f}x, "
                         f"lowest {min(others):.2f}x")
        lines.append((threads, parts))
    return [f"{display_name(main)}, {t} thread{'s' if t > 1 else ''}: " + "; ".join(p) for t, p in lines]


def contention_warning(runs):
    """A warning when the multi-threaded floor measured slower than the one-thread floor on most shapes:
    other processes held the cores, and multi-threaded times then measure the load, not the kernels."""
    copies = {(k[2], k[3]): m.bytes / m.median for k, m in runs.items() if k[0] == "floor" and k[1] == "copy" and m.median}
    slower = [(shape, t) for (shape, t), rate in copies.items() if t > 1 and rate < copies.get((shape, 1), 0)]
    total = sum(1 for (_, t) in copies if t > 1)
    if total and len(slower) * 2 > total:
        return (f"Warning: with more than one thread the streaming copy ran slower than with one on {len(slower)} of "
                f"{total} shapes: other processes were using the cores, so the multi-threaded times here measure "
                f"that load more than the kernels.")
    return None


def fmt_time(us):
    if us is None:
        return "-"
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.1f} µs" if us < 100 else f"{us:.0f} µs"


def fmt_ratio(x):
    return "-" if x is None else (f"{x:.1f}x" if x < 100 else f"{x:.0f}x")


def table(rows, columns, main):
    """Header and cells of the report table."""
    header = ["operation", "shape", "thr"] + [display_name(c) for c in columns] + \
             ["vs reference", "vs best other", "GB/s", "floor GB/s", "% of floor"]
    body = []
    for r in rows:
        cells = [r["operation"], r["shape"], str(r["threads"])]
        for c in columns:
            if c in r["median_us"]:
                cells.append(fmt_time(r["median_us"][c]))
            else:
                cells.append("skipped" if c in r["errors"] else "-")
        cells.append(fmt_ratio(r.get("speedup_over_reference")))
        cells.append(fmt_ratio(r.get("speedup_over_best_other")))
        cells.append(f"{r['softxent_gb_per_s']:.1f}" if "softxent_gb_per_s" in r else "-")
        cells.append(f"{r['floor_gb_per_s']:.1f} ({r['floor_bound'].split()[0]})" if "floor_gb_per_s" in r else "-")
        cells.append(f"{r['percent_of_floor']:.0f}%" if "percent_of_floor" in r else "-")
        body.append(cells)
    return header, body


def text_table(header, body):
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) if i < 3 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    previous = None
    for b in body:
        if previous is not None and b[0] != previous:
            lines.append("")
        previous = b[0]
        lines.append("  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(b, widths))))
    return "\n".join(lines)


def markdown(rows, columns, main, context, title, chart_name, warning):
    header, body = table(rows, columns, main)
    out = [f"# {title}", ""]
    load = [f"{v:.1f}" for v in context.get("load_avg", [])] or ["?"]
    out.append(f"- Machine: {context.get('cpu_model', 'unknown')}, {context.get('num_cpus', '?')} cores at "
               f"{context.get('mhz_per_cpu', '?')} MHz (host {context.get('host_name', '')}, load average "
               f"{load[0]} when the run started); date: {context.get('date', '')}")
    out.append(f"- softxent {context.get('softxent_version', '')}, default instruction set "
               f"`{context.get('softxent_default_isa', '')}`; Google Benchmark, median of "
               f"{context.get('repetitions', '?')} repetitions, each the wall time per call over a time budget; "
               f"buffers rotated over "
               f"{context.get('rotation_mib', '?')} MiB so that data comes from memory.")
    out.append("- Times per call. *vs reference*: softxent's speed-up over the scalar reference (single-threaded "
               "by design). *vs best other*: the best of oneDNN and XNNPACK's time over softxent's (above 1: "
               "softxent is faster). *GB/s*: the minimum traffic of SPEC.md (each input read once, each output "
               "written once) over softxent's time. *floor*: the slower of a streaming read/copy/add of the "
               "same bytes and a degree-6 polynomial exp (L1-resident) over the same elements, both measured "
               "in the same run (a floor with more threads is never taken below the one with fewer, and the exp "
               "floor scales with cores); *% of floor* = floor time / softxent time.")
    out.append("- oneDNN cross-entropy = its softmax primitive plus one pass for the loss and gradient (loss only: "
               "its logsoftmax plus a gather of the targets' log-probabilities); every foreign result is checked "
               "against the reference before it is timed.")
    out.append("- Reproduce: `scripts/bench.sh` (about 3 minutes on 2 cores; `--full` for every instruction set and "
               "9 repetitions, `--shapes 1000x50257,7x13` for more shapes). Ratios taken within one run are what "
               "to compare: the machine may be shared, and two-thread times suffer most when it is.")
    out.append("")
    out += ["## Summary", ""] + [f"- {line}" for line in summary(rows, main)] + [""]
    if warning:
        out += [f"**{warning}**", ""]
    if chart_name:
        out.append(f"![GB/s against row length, per operation]({chart_name})")
        out.append("")
    previous = None
    for b in body:
        if b[0] != previous:
            if previous is not None:
                out.append("")
            out.append(f"## {b[0]}")
            out.append("")
            out.append("| " + " | ".join(header[1:]) + " |")
            out.append("|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 3)) + "|")
            previous = b[0]
        out.append("| " + " | ".join(b[1:]) + " |")
    errors = sorted({(r["operation"], i, e) for r in rows for i, e in r["errors"].items()})
    if errors:
        out += ["", "Skipped:", ""]
        out += [f"- {op} / {display_name(i)}: {e}" for op, i, e in errors]
    return "\n".join(out) + "\n"


def chart(rows, runs, columns, path, title):
    """A PNG of GB/s against row length (shapes ordered by columns), one panel per operation and thread count."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        print("bench_report: gnuplot not found, no chart (apt-get install gnuplot-nox)", file=sys.stderr)
        return False
    operations = []
    for r in rows:
        if r["operation"] not in operations:
            operations.append(r["operation"])
    thread_counts = sorted({r["threads"] for r in rows})
    series = columns + ["floor"]
    tmp = tempfile.mkdtemp(prefix="softxent_chart_")
    panels = []
    for op in operations:
        for threads in thread_counts:
            selected = sorted((r for r in rows if r["operation"] == op and r["threads"] == threads),
                              key=lambda r: shape_key(r["shape"]))
            if not selected:
                continue
            data = os.path.join(tmp, f"{op}_{threads}.dat")
            with open(data, "w") as f:
                f.write("index shape " + " ".join(f'"{display_name(s)}"' for s in series) + "\n")
                for index, r in enumerate(selected):
                    values = []
                    for s in series:
                        if s == "floor":
                            v = r.get("floor_gb_per_s")
                        else:
                            us = r["median_us"].get(s)
                            m = runs.get((op, s, r["shape"], threads)) or runs.get((op, s, r["shape"], 1))
                            v = m.bytes / (us * 1e-6) / 1e9 if us and m else None
                        values.append("NaN" if v is None else f"{v:.4f}")
                    f.write(f'{index} "{r["shape"]}" ' + " ".join(values) + "\n")
            panels.append((op, threads, data))
    if not panels:
        return False
    columns_per_row = 2 * len(thread_counts) if len(thread_counts) <= 2 else len(thread_counts)
    panel_rows = math.ceil(len(panels) / columns_per_row)
    script = [f"set terminal pngcairo size {560 * columns_per_row},{380 * panel_rows + 60} font 'sans,9'",
              f"set output '{path}'",
              "set termoption noenhanced",
              f"set multiplot layout {panel_rows},{columns_per_row} title '{title}' font 'sans,12'",
              "set logscale y", "set yrange [0.05:*]", "set grid ytics mytics", "set ylabel 'GB/s'",
              "set xtics rotate by 30 right font 'sans,8'", "set key bottom right opaque box font 'sans,8' samplen 2",
              "set datafile missing 'NaN'", "set offsets 0.3,0.3,0,0"]
    styles = ["lw 2 pt 7", "lw 1.5 pt 5", "lw 1.5 pt 9", "lw 1.5 pt 11", "lw 1.5 pt 13", "lw 1.5 pt 3",
              "lw 1.5 pt 4", "lw 1.5 pt 6", "lw 1.5 pt 8"]
    for op, threads, data in panels:
        script.append(f"set title '{op}, {threads} thread{'s' if threads > 1 else ''}'")
        plots = []
        for i, s in enumerate(series):
            style = "dt 2 lc rgb 'black' lw 1.5 pt 1" if s == "floor" else styles[i % len(styles)]
            plots.append(f"'{data}' using 1:{i + 3}:xtic(2) with linespoints {style} title columnheader({i + 3})")
        script.append("plot " + ", \\\n     ".join(plots))
    script.append("unset multiplot")
    result = subprocess.run([gnuplot], input="\n".join(script), text=True, capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)
    if result.returncode != 0:
        print("bench_report: gnuplot failed:\n" + result.stderr, file=sys.stderr)
        return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench_json")
    parser.add_argument("--out", default=None, help="directory for report.json/.md/.png (default: the JSON's)")
    parser.add_argument("--title", default="softxent benchmarks")
    args = parser.parse_args()
    out = args.out or os.path.dirname(os.path.abspath(args.bench_json))
    os.makedirs(out, exist_ok=True)

    runs, context = load(args.bench_json)
    repetitions = [len(m.seconds) for m in runs.values() if m.seconds]
    context["repetitions"] = max(repetitions) if repetitions else 0
    rows, columns, main_impl = build_rows(runs, context)
    if not rows:
        print("bench_report: no benchmark results in " + args.bench_json, file=sys.stderr)
        return 1

    chart_path = os.path.join(out, "report.png")
    have_chart = chart(rows, runs, columns, chart_path,
                       f"{args.title}: GB/s of minimum traffic (log scale) - {context.get('cpu_model', '')}")
    header, body = table(rows, columns, main_impl)
    print(text_table(header, body))
    print("\n" + "\n".join(summary(rows, main_impl)))
    warning = contention_warning(runs)
    if warning:
        print("\n" + warning)
    floors = {k: v for k, v in runs.items() if k[0] == "floor" and v.median}
    memory_shapes = [k[2] for k in floors if k[1] != "exp"]
    largest = max(memory_shapes, key=lambda shape: shape_key(shape)[0] * shape_key(shape)[1], default=None)
    shown = sorted((k for k in floors if k[1] == "exp" or k[2] == largest), key=lambda k: (k[1], k[3]))
    if shown:
        print("\nfloor: " + ", ".join(
            f"{k[1]} {k[3]}t " + (f"{floors[k].elements / floors[k].median / 1e9:.2f} G exp/s" if k[1] == "exp"
                                  else f"{k[2]} {floors[k].bytes / floors[k].median / 1e9:.1f} GB/s") for k in shown))
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump({"context": context, "implementations": columns, "rows": rows}, f, indent=1)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(markdown(rows, columns, main_impl, context, args.title, "report.png" if have_chart else None,
                         warning))
    print(f"\nreport: {os.path.join(out, 'report.md')}, {os.path.join(out, 'report.json')}"
          + (f", {chart_path}" if have_chart else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
