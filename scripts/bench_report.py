#!/usr/bin/env python3
"""Turns the Google Benchmark JSON outputs of softxent_bench and softxent_bench_pytorch into the report.

For each operation, shape, thread count and regime (hot: the same buffers every call; cold: buffers
rotated over 256 MiB): the median time of every implementation (softxent per instruction set, the
reference, oneDNN, XNNPACK, PyTorch at each dispatch level), the roof measured in the same run, softxent's
percentage of the roof, and softxent's time over the best peer's.

The roof of a case is the larger of two times (SPEC.md, "Speed"), each from the fastest repetition of its
kernels (a bound is what the machine can do; other processes only slow a repetition down):
  - the op's minimum bytes at the bandwidth of the matching stream (read; copy: read one, write one;
    add: read two, write one), the faster of plain and non-temporal stores, on the same shape, regime
    and thread count (never below the bandwidth measured with fewer threads: more threads can idle);
  - the op's exponentials at the fastest exp variant whose maximum relative error over [-87, 0] is at
    most 1e-6 (checked by softxent_bench at start), at that thread count (never below the one-thread
    rate times the thread count: exp is per-core work).

Prints the table and the summary; writes <out>/report.json, <out>/report.md, <out>/report.png (gnuplot)
and <out>/readme.md (the per-CPU block of the README's speed section). With --readme FILE, replaces that
CPU's block in FILE (or adds it first among the tables).

Usage: bench_report.py BENCH_JSON [BENCH_JSON ...] [--out DIR] [--title TEXT] [--cpu LABEL]
                       [--details PATH] [--readme README.md] [--command TEXT]
"""

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict

OPERATIONS = ["logsumexp", "softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
              "cross_entropy_loss", "cross_entropy_grad", "cross_entropy_soft",
              "softmax_bf16", "softmax_f16", "log_softmax_bf16", "log_softmax_f16", "cross_entropy_grad_bf16"]
OPERATION_TITLES = {"cross_entropy_loss": "cross_entropy (loss only)",
                    "cross_entropy_grad": "cross_entropy (loss + grad)",
                    "cross_entropy_soft": "cross_entropy_soft (loss + grad)",
                    "softmax_bf16": "softmax bf16 -> bf16", "softmax_f16": "softmax f16 -> f16",
                    "log_softmax_bf16": "log_softmax bf16 -> bf16", "log_softmax_f16": "log_softmax f16 -> f16",
                    "cross_entropy_grad_bf16": "cross_entropy bf16 (float loss + bf16 grad)"}
REGIMES = ["hot", "cold"]
EXP_ACCURACY = 1e-6
STREAM_KINDS = {"read": ["read"], "copy": ["copy", "copy-nt"], "add": ["add", "add-nt"]}


# The cases with tables of their own (top-k and sampling; the logit transform), each
# timed against a softxent baseline of the same run rather than the roof.
SUITE_PREFIXES = ("sampling.", "transform.")
SAMPLING_CASES = ["logsumexp", "top_k_1", "top_k_8", "top_k_64", "greedy", "top_p", "top_k_40", "min_p", "plain"]
SAMPLING_TITLES = {"logsumexp": "logsumexp", "top_k_1": "top_k 1", "top_k_8": "top_k 8", "top_k_64": "top_k 64",
                   "greedy": "greedy", "top_p": "T 0.8 + top_p 0.9", "top_k_40": "top_k 40", "min_p": "min_p 0.05",
                   "plain": "plain"}
TOP_K_CASES = {"top_k_1", "top_k_8", "top_k_64"}
DRAW_CASES = {"greedy", "top_p", "top_k_40", "min_p", "plain"}
SORT_BASED = {"top_p", "min_p"}  # transformers' TopPLogitsWarper and MinPLogitsWarper sort the row
TOP_K_TARGET, DRAW_TARGET, COMPOSITE_TARGET = 1.5, 3.0, 10.0
LOGITS_KINDS = ["peaked", "normal"]
TRANSFORM_CASES = ["plain", "decode", "prefill", "temperature_mask", "temperature_mask_row", "temperature_softcap"]
TRANSFORM_TITLES = {"plain": "plain softmax",
                    "decode": "decode: scale + ALiBi + sinks + causal valid_cols",
                    "prefill": "prefill: scale + causal valid_cols",
                    "temperature_mask": "temperature + f32 mask (logits' shape)",
                    "temperature_mask_row": "temperature + broadcast mask row",
                    "temperature_softcap": "temperature + softcap 30"}
TRANSFORM_TARGET = 1.10  # at most 10% over plain softmax of the same shape, beyond the mask's own bytes


def in_suite(operation):
    return operation.startswith(SUITE_PREFIXES)


def is_peer(implementation):
    return implementation in ("onednn", "xnnpack") or implementation.startswith("pytorch")


def display_name(implementation):
    if implementation.startswith("softxent-"):
        return "softxent " + implementation[len("softxent-"):]
    if implementation.startswith("pytorch"):
        return "PyTorch" + implementation[len("pytorch"):].replace("-", " ")
    return {"onednn": "oneDNN", "xnnpack": "XNNPACK"}.get(implementation, implementation)


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

    @property
    def best(self):
        return min(self.seconds) if self.seconds else None


def seconds_of(entry):
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[entry.get("time_unit", "ns")]
    return entry["real_time"] * scale


def load(paths):
    """{(operation, implementation, shape, regime, threads): Measurement} and the runs' merged context
    (the first file's first: softxent_bench's)."""
    runs = defaultdict(Measurement)
    context = {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        for k, v in data.get("context", {}).items():
            context.setdefault(k, v)
        # The one-minute load average as each process started: how busy the machine was along the run.
        context.setdefault("process_loads", []).append(
            (os.path.splitext(os.path.basename(path))[0], (data.get("context", {}).get("load_avg") or [None])[0]))
        for entry in data.get("benchmarks", []):
            if entry.get("run_type", "iteration") != "iteration":
                continue  # medians are taken here, from the repetitions themselves
            parts = entry["run_name"].split("/")
            if len(parts) < 5 or not parts[4].startswith("threads:"):
                continue
            key = (parts[0], parts[1], parts[2], parts[3], int(parts[4].split(":")[1]))
            m = runs[key]
            if entry.get("error_occurred"):
                m.error = entry.get("error_message", "skipped")
                continue
            t = seconds_of(entry)
            m.seconds.append(t)
            m.bytes = entry.get("bytes_per_second", 0.0) * t
            m.elements = entry.get("items_per_second", 0.0) * t
            m.counters = {k: entry[k] for k in ("rows", "cols", "matrices_read", "matrices_written",
                                                "exp_per_element", "element_bytes", "mask_bytes") if k in entry}
    return runs, context


def shape_key(shape):
    rows, cols = (int(v) for v in shape.split("x"))
    return (cols, rows)


def accurate_exp_variants(context):
    """The roof's exp variants whose measured maximum relative error meets 1e-6: {name: error}."""
    variants = {}
    for key, text in context.items():
        if key.startswith("roof_exp_error/"):
            error = float(text.split()[0])
            if error <= EXP_ACCURACY:
                variants[key.split("/", 1)[1]] = error
    return variants


def stream_bandwidth(runs, kind, shape, regime, threads, roof="roof"):
    """Bytes/s of the fastest stream of this kind (plain or non-temporal stores) with at most `threads`
    threads, and which one. roof: "roof", or "roof16" for the streams over 16-bit matrices (the same
    bytes as a 16-bit operation's, so that a hot case's footprint is its own)."""
    best = (None, None)
    for (op, impl, s, r, t), m in runs.items():
        if op == roof and impl in STREAM_KINDS[kind] and s == shape and r == regime and t <= threads and m.best:
            rate = m.bytes / m.best
            if best[0] is None or rate > best[0]:
                best = (rate, impl)
    return best


def exp_rate(runs, variants, threads):
    """Exponentials/s of the fastest accurate variant at `threads` threads, and which one."""
    best = (None, None)
    for (op, impl, s, r, t), m in runs.items():
        if op != "roof" or not impl.startswith("exp-") or impl[4:] not in variants or not m.best:
            continue
        if t == threads or t == 1:
            rate = m.elements / m.best * (threads if t == 1 else 1)
            if best[0] is None or rate > best[0]:
                best = (rate, impl[4:])
    return best


def roof_of(runs, variants, op_run, shape, regime, threads):
    """(seconds, what bounds it, stream used, exp variant used) for one case."""
    c = op_run.counters
    kind = "read" if c.get("matrices_written", 1) == 0 else ("add" if c.get("matrices_read", 1) == 2 else "copy")
    bounds = {}
    roof = "roof16" if c.get("element_bytes") == 2 else "roof"
    bandwidth, stream = stream_bandwidth(runs, kind, shape, regime, threads, roof)
    if bandwidth:
        bounds["memory"] = op_run.bytes / bandwidth
    rate, variant = exp_rate(runs, variants, threads)
    if c.get("exp_per_element") and rate:
        bounds["exp"] = op_run.elements / rate
    if not bounds:
        return None
    which = max(bounds, key=bounds.get)
    return bounds[which], which, stream, variant if "exp" in bounds else None


def build_rows(runs, context):
    """One row per operation, shape, regime and thread count that softxent or a peer ran. An implementation
    measured as several composites ("pytorch", "pytorch~fused") is one column: the fastest of them."""
    variants_of = defaultdict(set)
    for k in runs:
        if not k[0].startswith("roof"):
            variants_of[k[1].split("~")[0]].add(k[1])
    implementations = sorted(variants_of)
    default_isa = context.get("softxent_default_isa", "")
    softxent = [i for i in implementations if i.startswith("softxent-")]
    strength = ["avx512", "avx2", "sse2", "neon", "scalar"]
    softxent.sort(key=lambda i: (i != "softxent-" + default_isa,
                                 strength.index(i[9:]) if i[9:] in strength else len(strength), i))
    peers = [i for i in ["onednn", "xnnpack"] if i in implementations]
    peers += sorted(i for i in implementations if i.startswith("pytorch"))
    columns = softxent + (["reference"] if "reference" in implementations else []) + peers
    main = softxent[0] if softxent else None
    exp_variants = accurate_exp_variants(context)

    rows = []
    operations = [o for o in OPERATIONS if any(k[0] == o for k in runs)]
    operations += sorted({k[0] for k in runs if k[0] not in OPERATIONS and not k[0].startswith("roof")
                          and not in_suite(k[0])})
    for op in operations:
        cases = sorted({(k[2], k[3], k[4]) for k in runs if k[0] == op},
                       key=lambda c: (shape_key(c[0]), c[2], REGIMES.index(c[1]) if c[1] in REGIMES else 9))
        for shape, regime, threads in cases:
            times, errors, composites = {}, {}, {}
            for impl in columns:
                for variant in sorted(variants_of[impl]):
                    m = runs.get((op, variant, shape, regime, threads))
                    if m is None and impl == "reference":
                        m = runs.get((op, variant, shape, regime, 1))  # single-threaded by design
                    if m is None:
                        continue
                    if m.error:
                        errors.setdefault(impl, m.error)
                    elif m.median and (impl not in times or m.median < times[impl]):
                        times[impl] = m.median
                        composites[impl] = variant
            row = {"operation": op, "shape": shape, "regime": regime, "threads": threads,
                   "median_us": {i: t * 1e6 for i, t in times.items()}, "errors": errors,
                   "composite": {i: v for i, v in composites.items() if "~" in v}}
            main_run = runs.get((op, main, shape, regime, threads)) if main else None
            if main in times:
                t = times[main]
                row["softxent_gb_per_s"] = main_run.bytes / t / 1e9
                peer_times = [(times[i], i) for i in peers if i in times]
                if peer_times:
                    best_time, best = min(peer_times)
                    row["best_peer"] = best
                    row["time_over_best_peer"] = t / best_time
                roof = roof_of(runs, exp_variants, main_run, shape, regime, threads)
                if roof:
                    row["roof_us"] = roof[0] * 1e6
                    row["roof_bound"] = roof[1]
                    row["roof_stream"] = roof[2]
                    row["roof_exp"] = roof[3]
                    row["percent_of_roof"] = 100.0 * roof[0] / t
            rows.append(row)
    return rows, columns, main


def summary_cases(rows):
    """(regime, threads) pairs present, in order."""
    return sorted({(r["regime"], r["threads"]) for r in rows},
                  key=lambda c: (REGIMES.index(c[0]) if c[0] in REGIMES else 9, c[1]))


def summary(rows, main):
    """Per regime and thread count: % of roof from 128 classes up (target 70) and at 10 classes (target 40),
    and softxent's time over the best peer's (target: at most 1, never slower)."""
    if main is None:
        return []
    lines = []
    for regime, threads in summary_cases(rows):
        mine = [r for r in rows if r["regime"] == regime and r["threads"] == threads]
        parts = []
        for label, selected, target in (
                ("from 128 classes", [r for r in mine if shape_key(r["shape"])[0] >= 128], 70),
                ("below 128 classes", [r for r in mine if shape_key(r["shape"])[0] < 128], 40)):
            roofs = [(r["percent_of_roof"], r["operation"], r["shape"]) for r in selected if "percent_of_roof" in r]
            if roofs:
                worst = min(roofs)
                met = sum(1 for f in roofs if f[0] >= target)
                parts.append(f"% of roof {label}: median {statistics.median(f[0] for f in roofs):.0f}%, lowest "
                             f"{worst[0]:.0f}% ({worst[1]} {worst[2]}), {met}/{len(roofs)} at the {target}% target")
        ratios = [(r["time_over_best_peer"], r["operation"], r["shape"], r["best_peer"]) for r in mine
                  if "time_over_best_peer" in r]
        if ratios:
            worst = max(ratios)
            slower = sum(1 for x in ratios if x[0] > 1.0)
            parts.append(f"time / best peer's: worst {worst[0]:.2f} ({worst[1]} {worst[2]}, {display_name(worst[3])}; "
                         f"speed-up {1 / worst[0]:.2f}x), median {statistics.median(x[0] for x in ratios):.2f}, "
                         f"slower than a peer in {slower}/{len(ratios)}")
        lines.append(f"{display_name(main)}, {regime}, {threads} thread{'s' if threads > 1 else ''}: "
                     + "; ".join(parts))
    return lines


def contention_warning(runs):
    """A warning when the two-thread copy stream ran slower than the one-thread one on most cold shapes:
    other processes held the cores, and multi-threaded times then measure the load, not the kernels."""
    copies = {(k[2], k[4]): m.bytes / m.median for k, m in runs.items()
              if k[0] == "roof" and k[1] == "copy" and k[3] == "cold" and m.median}
    slower = [(shape, t) for (shape, t), rate in copies.items() if t > 1 and rate < copies.get((shape, 1), 0)]
    total = sum(1 for (_, t) in copies if t > 1)
    if total and len(slower) * 2 > total:
        return (f"Warning: with more than one thread the cold streaming copy ran slower than with one on "
                f"{len(slower)} of {total} shapes: other processes were using the cores, so the multi-threaded "
                f"times here measure that load more than the kernels.")
    return None


def fmt_time(us):
    if us is None:
        return "-"
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.2f} µs" if us < 10 else (f"{us:.1f} µs" if us < 100 else f"{us:.0f} µs")


def table(rows, columns):
    """Header and cells of the report table."""
    header = ["operation", "shape", "thr", "regime"] + [display_name(c) for c in columns] + \
             ["roof", "% of roof", "÷ best peer"]
    body = []
    for r in rows:
        cells = [r["operation"], r["shape"], str(r["threads"]), r["regime"]]
        for c in columns:
            if c in r["median_us"]:
                cells.append(fmt_time(r["median_us"][c]) + ("*" if c in r.get("composite", {}) else ""))
            else:
                cells.append("skipped" if c in r["errors"] else "-")
        cells.append(f"{fmt_time(r['roof_us'])} ({r['roof_bound']})" if "roof_us" in r else "-")
        cells.append(f"{r['percent_of_roof']:.0f}%" if "percent_of_roof" in r else "-")
        cells.append(f"{r['time_over_best_peer']:.2f}" if "time_over_best_peer" in r else "-")
        body.append(cells)
    return header, body


def text_table(header, body, left=4):
    """A plain-text table, the first `left` columns left-aligned, a blank line where the first cell changes."""
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) if i < left else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    previous = None
    for b in body:
        if previous is not None and b[0] != previous:
            lines.append("")
        previous = b[0]
        lines.append("  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(b, widths))))
    return "\n".join(lines)


def fastest_median(runs, operation, implementations, shape, regime, threads):
    """The smallest median time among implementations (PyTorch at each dispatch level) and which one."""
    best = (None, None)
    for impl in implementations:
        m = runs.get((operation, impl, shape, regime, threads))
        if m and m.median and (best[0] is None or m.median < best[0]):
            best = (m.median, impl)
    return best


def first_error(runs, operation, implementations, shape, regime, threads):
    for impl in implementations:
        m = runs.get((operation, impl, shape, regime, threads))
        if m and m.error:
            return m.error
    return None


def add_composite(row, runs, operation, pytorch, softxent_seconds):
    """Adds to a suite's row PyTorch's fastest composite of its case (pytorch_us, pytorch) and softxent's
    speed-up over it (speedup), or the composite's skip message (pytorch_error)."""
    where = (row["shape"], row["regime"], row["threads"])
    t, best = fastest_median(runs, operation, pytorch, *where)
    if t:
        row["pytorch_us"], row["pytorch"] = t * 1e6, best
        if softxent_seconds:
            row["speedup"] = t / softxent_seconds
    else:
        row["pytorch_error"] = first_error(runs, operation, pytorch, *where)


def pytorch_implementations(runs):
    return sorted({k[1] for k in runs if k[1].startswith("pytorch")})


def regime_order(regime):
    return REGIMES.index(regime) if regime in REGIMES else 9


def sampling_rows(runs, main):
    """Top-k and sampling: one row per top-k or sampling case, logits kind, shape, regime and thread count: softxent's
    time, its ratio to softxent's logsumexp of the same logits (same run), PyTorch's composite (the faster
    dispatch level) and softxent's speed-up over it."""
    pytorch = pytorch_implementations(runs)
    rows = []
    for op, impl, shape, regime, threads in runs:
        if not op.startswith("sampling.") or impl != main:
            continue
        _, case, kind = op.split(".")
        m = runs[(op, impl, shape, regime, threads)]
        row = {"case": case, "logits": kind, "shape": shape, "regime": regime, "threads": threads}
        if m.median:
            row["softxent_us"] = m.median * 1e6
            base = runs.get((f"sampling.logsumexp.{kind}", main, shape, regime, threads))
            if base and base.median:
                row["logsumexp_us"] = base.median * 1e6
                row["over_logsumexp"] = m.median / base.median
        else:
            row["error"] = m.error
        add_composite(row, runs, op, pytorch, m.median)
        rows.append(row)
    order = {c: i for i, c in enumerate(SAMPLING_CASES)}
    rows.sort(key=lambda r: (LOGITS_KINDS.index(r["logits"]) if r["logits"] in LOGITS_KINDS else 9,
                             shape_key(r["shape"]), r["threads"], regime_order(r["regime"]), order.get(r["case"], 99)))
    return rows


def target_part(label, values, target, at_most):
    """'label met/total (worst x.xx: where)' for (value, where) pairs against a target bound."""
    if not values:
        return None
    met = sum(1 for v, _ in values if (v <= target if at_most else v >= target))
    worst = max(values) if at_most else min(values)
    return f"{label} {met}/{len(values)} (worst {worst[0]:.2f}x: {worst[1]})"


def sampling_summary(rows):
    """The top-k and sampling targets per regime and thread count: top-k (k <= 64) within 1.5x of logsumexp's time,
    sampling within 3x, and at least 10x faster than PyTorch's sort-based composites (top_p, min_p)."""
    lines = []
    where = lambda r: f"{SAMPLING_TITLES.get(r['case'], r['case'])}, {r['logits']} {r['shape']}"
    for regime, threads in summary_cases(rows):
        mine = [r for r in rows if r["regime"] == regime and r["threads"] == threads]
        when = f"{regime}, {threads} thread{'s' if threads > 1 else ''}"

        def line(title, selected, value, target, at_most, by_kind):
            groups = [(kind, [r for r in selected if r["logits"] == kind]) for kind in LOGITS_KINDS] if by_kind \
                else [("", selected)]
            parts = [target_part(kind, [(r[value], where(r)) for r in group if value in r], target, at_most)
                     for kind, group in groups]
            parts = [p.strip() for p in parts if p]
            if parts:
                lines.append(f"{title}, {when}: " + "; ".join(parts))

        line(f"top-k (k <= 64) within {TOP_K_TARGET:g}x of logsumexp",
             [r for r in mine if r["case"] in TOP_K_CASES], "over_logsumexp", TOP_K_TARGET, True, True)
        line(f"sampling within {DRAW_TARGET:g}x of logsumexp",
             [r for r in mine if r["case"] in DRAW_CASES], "over_logsumexp", DRAW_TARGET, True, True)
        line(f"at least {COMPOSITE_TARGET:g}x faster than PyTorch's sort-based composites (top_p, min_p)",
             [r for r in mine if r["case"] in SORT_BASED], "speedup", COMPOSITE_TARGET, False, False)
        line(f"at least {COMPOSITE_TARGET:g}x faster than PyTorch's other sampling composites (greedy, top_k 40, plain)",
             [r for r in mine if r["case"] in DRAW_CASES - SORT_BASED], "speedup", COMPOSITE_TARGET, False, False)
        line("faster than torch.topk(log_softmax(x))",
             [r for r in mine if r["case"] in TOP_K_CASES], "speedup", 1.0, False, False)
    return lines


def sampling_table(rows):
    header = ["logits", "shape", "thr", "regime", "operation", "softxent", "÷ logsumexp", "PyTorch composite",
              "speed-up"]
    body = []
    for r in rows:
        body.append([r["logits"], r["shape"], str(r["threads"]), r["regime"],
                     SAMPLING_TITLES.get(r["case"], r["case"]),
                     fmt_time(r.get("softxent_us")) if "softxent_us" in r else "skipped",
                     f"{r['over_logsumexp']:.2f}x" if "over_logsumexp" in r else "-",
                     fmt_time(r["pytorch_us"]) if "pytorch_us" in r else ("skipped" if r.get("pytorch_error") else "-"),
                     f"{r['speedup']:.1f}x" if "speedup" in r else "-"])
    return header, body


def sampling_grids(rows):
    """Markdown grids, one per regime and thread count: logits kind and shape by operation, each cell
    softxent's time over logsumexp's and its speed-up over PyTorch's composite."""
    out = []
    for regime, threads in summary_cases(rows):
        mine = {(r["logits"], r["shape"], r["case"]): r for r in rows if r["regime"] == regime and r["threads"] == threads}
        cases = [c for c in SAMPLING_CASES if c != "logsumexp" and any(k[2] == c for k in mine)]
        keys = sorted({(k[0], k[1]) for k in mine}, key=lambda k: (LOGITS_KINDS.index(k[0]) if k[0] in LOGITS_KINDS
                                                                    else 9, shape_key(k[1])))
        out.append(f"{regime}, {threads} thread{'s' if threads > 1 else ''}: softxent's time over its logsumexp's "
                   f"· speed-up over PyTorch's composite")
        out.append("")
        out.append("| logits | logsumexp (PyTorch) | " + " | ".join(SAMPLING_TITLES[c] for c in cases) + " |")
        out.append("|---|---:|" + "---:|" * len(cases))
        for kind, shape in keys:
            base = mine.get((kind, shape, "logsumexp"), {})
            cells = [f"{kind} {shape}",
                     (fmt_time(base["softxent_us"]) if "softxent_us" in base else "-")
                     + (f" ({fmt_time(base['pytorch_us'])})" if "pytorch_us" in base else "")]
            for c in cases:
                r = mine.get((kind, shape, c), {})
                cell = f"{r['over_logsumexp']:.2f}x" if "over_logsumexp" in r else "-"
                cell += f" · {r['speedup']:.0f}x" if "speedup" in r else ""
                cells.append(cell)
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return out


def transform_rows(runs, main):
    """Logit transform: one row per transform case, shape, regime and thread count: softxent's time, its ratio to
    softxent's plain softmax of the same shape (same run), that ratio with the plain time scaled by the
    mask's own bytes ((plain bytes + mask bytes) / plain bytes: the target's measure), PyTorch's composite
    and softxent's speed-up over it."""
    pytorch = pytorch_implementations(runs)
    rows = []
    for op, impl, shape, regime, threads in runs:
        if not op.startswith("transform.") or impl != main:
            continue
        case = op.split(".", 1)[1]
        m = runs[(op, impl, shape, regime, threads)]
        row = {"case": case, "shape": shape, "regime": regime, "threads": threads}
        plain = runs.get(("transform.plain", main, shape, regime, threads))
        if m.median:
            row["softxent_us"] = m.median * 1e6
            if plain and plain.median:
                mask_bytes = m.counters.get("mask_bytes", 0.0)
                row["plain_us"] = plain.median * 1e6
                row["over_plain"] = m.median / plain.median
                row["mask_share"] = mask_bytes / plain.bytes if plain.bytes else 0.0
                row["over_plain_with_mask"] = row["over_plain"] / (1.0 + row["mask_share"])
        else:
            row["error"] = m.error
        add_composite(row, runs, op, pytorch, m.median)
        rows.append(row)
    order = {c: i for i, c in enumerate(TRANSFORM_CASES)}
    rows.sort(key=lambda r: (shape_key(r["shape"]), r["threads"], regime_order(r["regime"]), order.get(r["case"], 99)))
    return rows


def transform_summary(rows):
    """The logit transform's targets per regime and thread count: at most 10% over plain softmax beyond the mask's own
    bytes, and faster than PyTorch's composite."""
    lines = []
    where = lambda r: f"{r['case']} {r['shape']}"
    for regime, threads in summary_cases(rows):
        mine = [r for r in rows if r["regime"] == regime and r["threads"] == threads and r["case"] != "plain"]
        when = f"{regime}, {threads} thread{'s' if threads > 1 else ''}"
        parts = [target_part(f"transform within {TRANSFORM_TARGET:.2f}x of plain softmax (beyond the mask's bytes)",
                             [(r["over_plain_with_mask"], where(r)) for r in mine if "over_plain_with_mask" in r],
                             TRANSFORM_TARGET, True),
                 target_part("faster than PyTorch's composite",
                             [(r["speedup"], where(r)) for r in mine if "speedup" in r], 1.0, False)]
        parts = [p for p in parts if p]
        if parts:
            lines.append(f"{when}: " + "; ".join(parts))
    return lines


def transform_table(rows):
    header = ["shape", "thr", "regime", "case", "softxent", "plain softmax", "÷ plain", "÷ plain, mask bytes off",
              "PyTorch composite", "speed-up"]
    body = []
    for r in rows:
        body.append([r["shape"], str(r["threads"]), r["regime"], TRANSFORM_TITLES.get(r["case"], r["case"]),
                     fmt_time(r["softxent_us"]) if "softxent_us" in r else "skipped",
                     fmt_time(r["plain_us"]) if "plain_us" in r else "-",
                     f"{r['over_plain']:.2f}x" if "over_plain" in r else "-",
                     f"{r['over_plain_with_mask']:.2f}x" if "over_plain_with_mask" in r else "-",
                     fmt_time(r["pytorch_us"]) if "pytorch_us" in r else ("skipped" if r.get("pytorch_error") else "-"),
                     f"{r['speedup']:.2f}x" if "speedup" in r else "-"])
    return header, body


def transform_grids(rows):
    """One Markdown table: per case and shape, each regime and thread count's ratio to plain softmax
    (mask bytes off) and speed-up over PyTorch's composite."""
    cases = summary_cases(rows)
    index = {(r["case"], r["shape"], r["regime"], r["threads"]): r for r in rows}
    keys = sorted({(r["case"], r["shape"]) for r in rows},
                  key=lambda k: (TRANSFORM_CASES.index(k[0]) if k[0] in TRANSFORM_CASES else 99, shape_key(k[1])))
    heading = [f"{g} {t}t" for g, t in cases]
    out = ["softxent's time over its plain softmax of the same shape, with the mask's own bytes taken off "
           "(target <= 1.10) · speed-up over PyTorch's composite; plain softmax: softxent's time (PyTorch's)", "",
           "| case | shape | " + " | ".join(heading) + " |", "|---|---|" + "---:|" * len(heading)]
    for case, shape in keys:
        cells = []
        for g, t in cases:
            r = index.get((case, shape, g, t), {})
            if case == "plain":
                cell = (fmt_time(r["softxent_us"]) if "softxent_us" in r else "-") + \
                       (f" ({fmt_time(r['pytorch_us'])})" if "pytorch_us" in r else "")
            else:
                cell = f"{r['over_plain_with_mask']:.2f}x" if "over_plain_with_mask" in r else "-"
                cell += f" · {r['speedup']:.2f}x" if "speedup" in r else ""
            cells.append(cell)
        out.append(f"| {TRANSFORM_TITLES.get(case, case)} | {shape} | " + " | ".join(cells) + " |")
    return out + [""]


TRANSFORM_DESCRIPTION = (
    "Softmax with the logit transform (softxent_softmax_options) over softxent's own plain softmax of the "
    "same shape in the same run, and PyTorch's composite of the same transform (mul, tanh, add of the mask or bias, "
    "softmax; for sinks, a column concatenated before the softmax) on preallocated tensors. *÷ plain, mask bytes "
    "off* divides the plain time scaled by (plain bytes + mask bytes) / plain bytes, the mask read once: the full "
    "f32 mask adds half the bytes of a softmax, a broadcast row adds one row. Target: at most 1.10, hot and cold, "
    "and faster than PyTorch's composite.")


SAMPLING_DESCRIPTION = (
    "softxent's top_k and sample on the logits of a decoding step, over softxent's own logsumexp of the "
    "same rows in the same run (one read and one exponential per logit: what any sampler must at least do), and "
    "PyTorch's composites on the same logits: torch.topk(log_softmax(x)) for top-k; for sampling, Hugging Face's "
    "warper chain as transformers writes it (temperature, top-k: topk + mask; top-p: sort, softmax, cumsum, mask, "
    "scatter; min-p: softmax, max, mask, argsort, scatter; then softmax and multinomial), each with the token's "
    "log-probability, on preallocated tensors. *peaked* logits are a language model's (a N(0, 2) bulk with 20 "
    "tokens 6 to 20 above it), *normal* ones N(0, 2.5) with nothing above (top_p 0.9 then keeps thousands of "
    "classes). Targets: top-k (k <= 64) within 1.5x of logsumexp's time, sampling within 3x, and at least 10x "
    "faster than the sort-based composite.")


def suite_reports(runs, main):
    """The suites the run has, each a dict: key, title, description, rows, summary lines, table, README grids."""
    suites = []
    rows = sampling_rows(runs, main) if main else []
    if rows:
        suites.append({"key": "sampling", "title": "Top-k and sampling", "description": SAMPLING_DESCRIPTION,
                       "rows": rows, "summary": sampling_summary(rows), "table": sampling_table(rows),
                       "grids": sampling_grids(rows), "left": 5})
    rows = transform_rows(runs, main) if main else []
    if rows:
        suites.append({"key": "transform", "title": "Logit transform", "description": TRANSFORM_DESCRIPTION,
                       "rows": rows, "summary": transform_summary(rows), "table": transform_table(rows),
                       "grids": transform_grids(rows), "left": 4})
    return suites


def suite_markdown(suite):
    header, body = suite["table"]
    out = [f"## {suite['title']}", "", suite["description"], ""]
    out += [f"- {line}" for line in suite["summary"]] + [""]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join(["---"] * suite["left"] + ["---:"] * (len(header) - suite["left"])) + "|")
    out += ["| " + " | ".join(b) + " |" for b in body]
    return out + [""]


def roof_lines(runs, context):
    """What the roof was made of in this run: each exp variant's rate and error, the streams' best rates."""
    lines = []
    errors = {k.split("/", 1)[1]: v for k, v in context.items() if k.startswith("roof_exp_error/")}
    exps = sorted((k for k, m in runs.items() if k[0] == "roof" and k[1].startswith("exp-") and m.best),
                  key=lambda k: (k[4], k[1]))
    for k in exps:
        m = runs[k]
        variant = k[1][4:]
        used = float(errors.get(variant, "1").split()[0]) <= EXP_ACCURACY
        lines.append(f"exp {variant}, {k[4]} thread{'s' if k[4] > 1 else ''}: {m.elements / m.best / 1e9:.2f} G exp/s"
                     f"; max relative error {errors.get(variant, '?')}{'' if used else ' (above 1e-6: not used)'}")
    streams = [k for k, m in runs.items() if k[0] == "roof" and not k[1].startswith("exp-") and m.best]
    largest = max((k[2] for k in streams), key=lambda s: shape_key(s)[0] * shape_key(s)[1], default=None)
    for regime in REGIMES:
        shown = sorted((k for k in streams if k[2] == largest and k[3] == regime), key=lambda k: (k[4], k[1]))
        if shown:
            lines.append(f"streams on {largest}, {regime}: " + ", ".join(
                f"{k[1]} {k[4]}t {runs[k].bytes / runs[k].best / 1e9:.1f} GB/s" for k in shown))
    return lines


def loads_text(context):
    loads = [f"{name} {value:.1f}" for name, value in context.get("process_loads", []) if value is not None]
    return "load average as each process started: " + ", ".join(loads) if loads else "load average unknown"


def markdown(rows, columns, main, context, title, chart_name, warning, runs, cpu, command, suites):
    header, body = table(rows, columns)
    out = [f"# {title}", ""]
    out.append(f"- Machine: {cpu}, {context.get('num_cpus', '?')} cores (host {context.get('host_name', '')}, "
               f"{loads_text(context)}); date: {context.get('date', '')}")
    peers = ", ".join(display_name(c) for c in columns if is_peer(c)) or "none"
    out.append(f"- softxent {context.get('softxent_version', '')}, default instruction set "
               f"`{context.get('softxent_default_isa', '')}`; peers: {peers}"
               + (f" (PyTorch {context['pytorch_version']} headers, Debian's libtorch-dev)"
                  if "pytorch_version" in context else "")
               + f". Google Benchmark, median of {context.get('repetitions', '?')} repetitions, each the wall "
               f"time per call over a time budget.")
    out.append(f"- *hot*: the same buffers every call, so data that fits stays in cache; *cold*: buffer sets rotated "
               f"over {context.get('rotation_mib', '?')} MiB, so data comes from memory.")
    out.append("- *roof*: the larger of the op's minimum bytes (SPEC.md: each input read once, each output written "
               "once) at the bandwidth of a streaming read / copy / add kernel (the faster of plain and "
               "non-temporal stores) and the op's exponentials at the fastest exp with relative error <= 1e-6, both "
               "measured in this run, same regime, same thread count, each from its fastest repetition (the "
               "implementations' times are medians); *% of roof* = roof time / softxent's time. "
               "*÷ best peer* = softxent's time / the best peer's (below 1: softxent is faster).")
    out.append("- Half precision (`_bf16`, `_f16`: 16-bit logits in, 16-bit outputs out; cross-entropy's loss is "
               "float): the roof counts 2 bytes per element read and written, at streams over 16-bit matrices of the "
               "same shape (so that a hot case's footprint is its own), and one exponential per element.")
    out.append("- PyTorch ran in processes of its own: at its default dispatch, and with ATEN_CPU_CAPABILITY=avx512 "
               "(*PyTorch avx512*), on preallocated outputs. Its cross-entropy with gradient is the faster of two "
               "composites: autograd's (log_softmax, nll_loss, nll_loss_backward, log_softmax_backward) and a fused "
               "one (softmax into the gradient, then one scaling pass); cells marked * are the fused one's. oneDNN's "
               "cross-entropy is its softmax plus one pass. Every peer's result is checked against the reference "
               "before it is timed.")
    if command:
        out.append(f"- Command: `{command}`. Ratios within one run are what to compare: the machine may be shared, "
                   f"and two-thread times suffer most when it is.")
    out.append("")
    if rows:  # a run of the suites alone has no roof table
        out += ["## Summary", ""] + [f"- {line}" for line in summary(rows, main)] + [""]
        if warning:
            out += [f"**{warning}**", ""]
        out += ["## Roof", ""] + [f"- {line}" for line in roof_lines(runs, context)] + [""]
    if chart_name:
        out.append(f"![GB/s against row length, per operation, regime and thread count]({chart_name})")
        out.append("")
    previous = None
    for b in body:
        if b[0] != previous:
            if previous is not None:
                out.append("")
            out.append(f"## {b[0]}")
            out.append("")
            out.append("| " + " | ".join(header[1:]) + " |")
            out.append("|" + "|".join(["---"] * 3 + ["---:"] * (len(header) - 4)) + "|")
            previous = b[0]
        out.append("| " + " | ".join(b[1:]) + " |")
    errors = sorted({(r["operation"], i, e) for r in rows for i, e in r["errors"].items()})
    if errors:
        out += ["", "Skipped:", ""]
        out += [f"- {op} / {display_name(i)}: {e}" for op, i, e in errors]
    for suite in suites:
        out += [""] + suite_markdown(suite)
    return "\n".join(out) + "\n"


def readme_block(rows, main, context, cpu, details, command, suites):
    """The README's block for this CPU: % of roof and time over the best peer, per operation and shape."""
    shapes = sorted({r["shape"] for r in rows}, key=lambda s: (shape_key(s)[0], -shape_key(s)[1]))
    threads = sorted({r["threads"] for r in rows})
    cell_order = [(g, t) for g in REGIMES for t in threads]
    index = {(r["operation"], r["shape"], r["regime"], r["threads"]): r for r in rows}

    def grid(value, fmt):
        lines = ["| operation | " + " | ".join(shapes) + " |", "|---|" + "---:|" * len(shapes)]
        for op in [o for o in OPERATIONS if any(r["operation"] == o for r in rows)]:
            cells = []
            for shape in shapes:
                values = []
                for regime in REGIMES:
                    part = [index.get((op, shape, regime, t)) for t in threads]
                    values.append("/".join(fmt(value(r)) if r and value(r) is not None else "-" for r in part))
                cells.append(" · ".join(values))
            lines.append(f"| {OPERATION_TITLES.get(op, op)} | " + " | ".join(cells) + " |")
        return lines

    date = context.get("date", "")[:10]
    order = " · ".join("/".join(f"{g} {t}t" for t in threads) for g in REGIMES)
    out = [f"### {cpu}, {date}", ""]
    out.append(f"{'`' + command + '` on ' if command else ''}{cpu} ({context.get('num_cpus', '?')} cores, "
               f"{loads_text(context)}); "
               f"medians of {context.get('repetitions', '?')} "
               f"repetitions. Full tables, roof details and the chart: [{details}]({details}).")
    if rows:
        out.append("")
        out.append(f"Percent of the roof, {order} (SPEC.md's targets: 70% from 128 classes, 40% at 10):")
        out.append("")
        out += grid(lambda r: r.get("percent_of_roof"), lambda v: f"{v:.0f}")
        out.append("")
        out.append(f"softxent's time over the best peer's (oneDNN, XNNPACK, PyTorch at both dispatch levels, where "
                   f"each has the operation; below 1.00: softxent is faster), {order}:")
        out.append("")
        out += grid(lambda r: r.get("time_over_best_peer"), lambda v: f"{v:.2f}")
        out.append("")
        out.append("Summary printed by that run:")
        out.append("")
        out += [f"- {line}" for line in summary(rows, main)]
    for suite in suites:
        out += ["", f"#### {suite['title']}", ""] + suite["grids"]
        out += [f"- {line}" for line in suite["summary"]]
    return "\n".join(out) + "\n"


def update_readme(path, slug, block):
    """Replaces the block between this CPU's markers in the README, or adds it after the tables marker."""
    with open(path) as f:
        text = f.read()
    begin, end = f"<!-- speed table {slug} -->", f"<!-- end speed table {slug} -->"
    wrapped = f"{begin}\n{block}{end}"
    if begin in text and end in text:
        text = text[:text.index(begin)] + wrapped + text[text.index(end) + len(end):]
    else:
        anchor = "<!-- speed tables, newest CPU first -->"
        if anchor not in text:
            print(f"bench_report: {path} has no '{anchor}' line, README not updated", file=sys.stderr)
            return False
        text = text.replace(anchor, f"{anchor}\n{wrapped}\n", 1)
    with open(path, "w") as f:
        f.write(text)
    return True


def chart(rows, runs, columns, path, title):
    """A PNG of GB/s against row length: one panel per operation, regime and thread count."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        print("bench_report: gnuplot not found, no chart (apt-get install gnuplot-nox)", file=sys.stderr)
        return False
    operations = []
    for r in rows:
        if r["operation"] not in operations:
            operations.append(r["operation"])
    cases = summary_cases(rows)
    series = columns + ["roof"]
    tmp = tempfile.mkdtemp(prefix="softxent_chart_")
    panels = []
    for op in operations:
        for regime, threads in cases:
            selected = sorted((r for r in rows if r["operation"] == op and r["threads"] == threads
                               and r["regime"] == regime), key=lambda r: shape_key(r["shape"]))
            if not selected:
                continue
            traffic = {k[2]: m.bytes for k, m in runs.items() if k[0] == op and m.bytes}  # the same for all
            data = os.path.join(tmp, f"{op}_{regime}_{threads}.dat")
            with open(data, "w") as f:
                f.write("index shape " + " ".join(f'"{display_name(s)}"' for s in series) + "\n")
                for index, r in enumerate(selected):
                    values = []
                    for s in series:
                        us = r.get("roof_us") if s == "roof" else r["median_us"].get(s)
                        v = traffic[r["shape"]] / (us * 1e-6) / 1e9 if us and traffic.get(r["shape"]) else None
                        values.append("NaN" if v is None else f"{v:.4f}")
                    f.write(f'{index} "{r["shape"]}" ' + " ".join(values) + "\n")
            panels.append((op, regime, threads, data))
    if not panels:
        return False
    columns_per_row = len(cases)
    panel_rows = math.ceil(len(panels) / columns_per_row)
    script = [f"set terminal pngcairo size {480 * columns_per_row},{330 * panel_rows + 60} font 'sans,8'",
              f"set output '{path}'",
              "set termoption noenhanced",
              f"set multiplot layout {panel_rows},{columns_per_row} title '{title}' font 'sans,12'",
              "set logscale y", "set yrange [0.05:*]", "set grid ytics mytics", "set ylabel 'GB/s'",
              "set xtics rotate by 30 right font 'sans,7'", "set key bottom right opaque box font 'sans,7' samplen 2",
              "set datafile missing 'NaN'", "set offsets 0.3,0.3,0,0"]
    styles = ["lw 2 pt 7", "lw 1.5 pt 5", "lw 1.5 pt 9", "lw 1.5 pt 11", "lw 1.5 pt 13", "lw 1.5 pt 3",
              "lw 1.5 pt 4", "lw 1.5 pt 6", "lw 1.5 pt 8"]
    for op, regime, threads, data in panels:
        script.append(f"set title '{op}, {regime}, {threads} thread{'s' if threads > 1 else ''}'")
        plots = []
        for i, s in enumerate(series):
            style = "dt 2 lc rgb 'black' lw 1.5 pt 1" if s == "roof" else styles[i % len(styles)]
            plots.append(f"'{data}' using 1:{i + 3}:xtic(2) with linespoints {style} title columnheader({i + 3})")
        script.append("plot " + ", \\\n     ".join(plots))
    script.append("unset multiplot")
    result = subprocess.run([gnuplot], input="\n".join(script), text=True, capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)
    if result.returncode != 0:
        print("bench_report: gnuplot failed:\n" + result.stderr, file=sys.stderr)
        return False
    return True


def slug_of(label):
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench_json", nargs="+")
    parser.add_argument("--out", default=None, help="directory for the report (default: the first JSON's)")
    parser.add_argument("--title", default="softxent benchmarks")
    parser.add_argument("--cpu", default=None, help="the CPU's label (default: the run's cpu_model)")
    parser.add_argument("--details", default="docs/benchmarks/README.md",
                        help="where the README block links for the full report")
    parser.add_argument("--readme", default=None, help="README to update with this CPU's block")
    parser.add_argument("--command", default="", help="the command that made the run, for the report")
    args = parser.parse_args()
    out = args.out or os.path.dirname(os.path.abspath(args.bench_json[0]))
    os.makedirs(out, exist_ok=True)

    runs, context = load(args.bench_json)
    repetitions = [len(m.seconds) for m in runs.values() if m.seconds]
    context["repetitions"] = max(repetitions) if repetitions else 0
    cpu = args.cpu or context.get("cpu_model", "unknown CPU")
    rows, columns, main_impl = build_rows(runs, context)
    suites = suite_reports(runs, main_impl)
    if not rows and not suites:
        print("bench_report: no benchmark results in " + " ".join(args.bench_json), file=sys.stderr)
        return 1

    chart_path = os.path.join(out, "report.png")
    have_chart = bool(rows) and chart(rows, runs, columns, chart_path,
                                      f"{args.title}: GB/s of minimum traffic (log scale) - {cpu}")
    if rows:
        header, body = table(rows, columns)
        print(text_table(header, body))
        print("\n" + "\n".join(summary(rows, main_impl)))
    for suite in suites:
        print(f"\n{suite['title']}:\n")
        print(text_table(*suite["table"], left=suite["left"]))
        print("\n" + "\n".join(suite["summary"]))
    warning = contention_warning(runs)
    if warning:
        print("\n" + warning)
    roof = roof_lines(runs, context)
    if roof:
        print("\nroof: " + "\n      ".join(roof))
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump({"context": context, "cpu": cpu, "implementations": columns, "rows": rows,
                   **{suite["key"]: suite["rows"] for suite in suites}}, f, indent=1)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(markdown(rows, columns, main_impl, context, f"{args.title}: {cpu}, {context.get('date', '')[:10]}",
                         "report.png" if have_chart else None, warning, runs, cpu, args.command, suites))
    block = readme_block(rows, main_impl, context, cpu, args.details, args.command, suites)
    with open(os.path.join(out, "readme.md"), "w") as f:
        f.write(block)
    if args.readme and update_readme(args.readme, slug_of(cpu), block):
        print(f"\nupdated this CPU's speed table in {args.readme}")
    print(f"\nreport: {os.path.join(out, 'report.md')}, {os.path.join(out, 'report.json')}, "
          f"{os.path.join(out, 'readme.md')}" + (f", {chart_path}" if have_chart else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
