#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/corpus: a few cases of every operation on every ISA, with each value
style, stride kind and option kind; every dtype per operation; the softmax options, cross-entropy's
logit transform, the sharded cross-entropy, top-k, sampling and the fused linear cross-entropy; and their
edges. Its byte layout is the one c_api_checker.cpp's parse() reads. Run from anywhere: python3
fuzz/make_seeds.py (deterministic). It rewrites the seeds it names and leaves the found-* inputs alone."""
import os
import random
import struct

# op_slots[] of fuzz_case.cpp
LOGSUMEXP, SOFTMAX, LOG_SOFTMAX, SOFTMAX_BWD, LOG_SOFTMAX_BWD = 0, 1, 2, 3, 4
CE_LOSS, CE_GRAD, SOFT_LOSS, SOFT_GRAD, SHARD_LOSS, SHARD_GRAD = 5, 6, 7, 8, 9, 10
TOP_K, SAMPLE = 11, 12
LINEAR = 13
SLOT_NAMES = ["lse", "softmax", "logsoftmax", "softmax-bwd", "logsoftmax-bwd", "ce-loss", "ce-grad", "soft-loss",
              "soft-grad", "shard-loss", "shard-grad", "top-k", "sample"]
SELECTION = (TOP_K, SAMPLE)
BACKWARD = (SOFTMAX_BWD, LOG_SOFTMAX_BWD)
TRANSFORMED = (LOGSUMEXP, SOFTMAX, LOG_SOFTMAX)
CROSS_ENTROPY = (CE_LOSS, CE_GRAD, SOFT_LOSS, SOFT_GRAD, SHARD_LOSS, SHARD_GRAD)
ISA = {"null": 0, "auto": 1, "reference": 2, "scalar": 3, "sse2": 4, "avx2": 5, "avx512": 6, "neon": 7, "bogus": 8}
# dtype_of_byte(): bytes for F32, F16, BF16 and the values outside the enum (3, -1, 1000).
F32, F16, BF16 = 0, 7, 11
INVALID = {"3": 15, "minus1": 15 | 16, "1000": 15 | 32}
DTYPE_NAMES = {F32: "f32", F16: "f16", BF16: "bf16"}
# aliasing in c_api_checker.cpp
IN_PLACE, IN_PLACE_SECOND, OTHER_STRIDE, SHIFTED, LOSS_IN_INPUT = 1, 2, 3, 4, 5
ADJACENT, LAST_ELEMENT, IN_MASK, LOSS_IN_OUTPUT = 6, 7, 8, 9
# cols words: the kind in the low 3 bits
C7, C33, C300, C4097, C8193 = (7 << 3), (32 << 3) | 3, (300 << 3) | 4, (7 << 3) | 5, (8 << 3) | 6


def alias_byte(mode):
    return 0 if mode == 0 else 5 | (mode << 3)


def null_byte(index, stats=False):
    return 15 | (index << 4) | (0x40 if stats else 0)


def transform(scale=0, softcap=0, selector=0, mask_kind=0, mask_dtype=0, mask_rows=0, mask_stride=0,
              bad_mask_rows=False, per_head=0, slopes=0, sinks=0, valid=0, bad_valid=0, mode=2):
    """The seven bytes of the softmax options: T0, T1, M0, M1, heads, sinks, valid_cols.
    scale, softcap: table indices (15: the invalid value the selector picks); mask_kind 4 bias,
    5 causal, 6 padding, 7 extremes; mask_dtype 0 f32, 3 f16, 5 bf16, 7 invalid; mask_rows 0: 1,
    1: rows, 2: 2, 3: rows + 2; mask_stride 0: cols, 5: cols + 1, 6: cols + 3, 7: cols - 1;
    per_head 0: 0, 2: 1, 3: 2, 4: 3, 5: rows, 6: rows + 5, 7: 4; slopes 4 ALiBi, 5 random,
    6 special, 7 one invalid; sinks 4 normal, 5 +-50..100, 6 huge, 7 one invalid; valid 4 random,
    5 all 0, 6 all cols, 7 one invalid (bad_valid: -1, cols + 1, INT64_MIN, INT64_MAX)."""
    return [mode | (scale << 2), softcap | (selector << 4), mask_kind | (mask_dtype << 3) | (mask_rows << 6),
            mask_stride | ((7 << 3) if bad_mask_rows else 0), per_head | (slopes << 3), sinks, valid | (bad_valid << 3)]


def ce_transform(scale, softcap):
    """logit_scale from {1, 0.5, 2, 30, 1e-3, 3e30, 0.125, invalid}, softcap from {0, 0, 30, 5, 1e-3,
    1e30, -0, invalid} (invalid: picked by the transform's selector byte)."""
    return 3 | (scale << 2) | (softcap << 5)


def shards(count=1, fault=0, without_logits=False, seed=0):
    """count 1-4; fault 1 no columns, 2 past the last column, 3 total_cols 0, 4 offset past the end."""
    return [(count - 1) | ((27 + fault if fault else 0) << 2) | (0x80 if without_logits else 0), seed]


def selection(k=0, log_probs_null=False, lse_null=False, options=2, seeds=0, temperature=0, top_k=0, top_p=0, min_p=0,
              offset=0, step=0, spread=0, bad=0):
    """The seven bytes of top-k's and sampling's options (read_selection in fuzz_case.cpp). k: 0 1, 1 1,
    2 2, 3 3, 4 5, 5 8, 6 spread over cols, 7 cols, 8 cols - 1, 9 min(cols, 1024), 10 64, 11 1024,
    12 0, 13 cols + 1, 14 1025, 15 SIZE_MAX; options 0 NULL, 1 defaults, 2 set; seeds 0-3 random, 4 one
    for all rows, 5 zero, 6 all ones, 7 the row's index; temperature {1, 1, 0, 0, 0.8, 0.5, 2, 0.7, 1.3,
    0.25, 1e-3, 100, -0, 1e-30, 1e-40}, 15 invalid (bad: -1, NaN, inf, -inf); top_k {0, 0, 0, 0, 1, 2,
    3, 5, 40, cols - 1, cols, cols + 1, 1024, 1025, SIZE_MAX, spread}; top_p {1, 1, 1, 0.9, 0.5, 0.95,
    0.99, 0.1, 1e-6, 0.999, 0.8, 0.3, 2^-149, 1 - 2^-24, 0.6}, 15 invalid (bad: 0, -0.5, 1.5, NaN); min_p
    {0, 0, 0, 0.05, 0.1, 0.5, 1, 1e-3, 0.02, 0.3, 1e-30, -0, 0.9, 0.2, 2^-149}, 15 invalid (bad: -0.1,
    1.5, NaN, inf); offset 0-1 zero, 2 step, 3 2^32 - 1, 4 2^32, 5 2^64 - 1, 6 2^32 + step, 7 step << 40."""
    return [k | (spread << 4), (1 if log_probs_null else 0) | (2 if lse_null else 0) | (options << 2) | (seeds << 4),
            temperature | (bad << 4), top_k | (spread << 4), top_p | (bad << 4), min_p | (bad << 4), offset | (step << 3)]


def linear(hidden=8, classes=5, bias_null=False, grad_inputs_null=False, grad_weight_null=False, grad_bias_null=False,
           start=1, workspace=0, stride=0):
    """The five bytes of the linear cross-entropy (read_linear in fuzz_case.cpp): hidden and classes
    (mod 48; 0 is INVALID_SHAPE), the NULL pointers and grad_weight's start values (0 zeros, 1 normal,
    2 large), the workspace (0 exact, 3 misaligned, 4 64 bytes more, 5 one byte short, 6 NULL) and
    grad_weight's stride (as the other strides: 0 hidden, 10-13 longer, 14 short, 15 overflowing).
    Its value style: scale {1, 1, 0.3, 2, 5, 0.01, 20, 1e-20}, then 1 some zeros, 2 some large, 3 some
    subnormal."""
    return [hidden, classes, (1 if bias_null else 0) | (2 if grad_inputs_null else 0) | (4 if grad_weight_null else 0) |
            (8 if grad_bias_null else 0) | (start << 4), workspace, stride]


def case(rng, op, isa, rows_byte, cols_word, strides=(0, 0, 0), alias=0, null=0, threads=1, pool=0,
         dtypes=(F32, F32, F32), generic=False, ce=0, softmax=None, shard=None, options=None, style=(0, 0),
         overrides=(), prob_overrides=(), targets=None, select=None, lin=None):
    b = bytearray()
    b += bytes([op, rows_byte]) + struct.pack("<H", cols_word)
    b += bytes(strides) + bytes([alias_byte(alias), null, (threads + 1) << 3, isa, pool])
    b += struct.pack("<I", rng.getrandbits(32))
    # The extension: dtypes, form, cross-entropy transform, softmax options, shards.
    b += bytes(dtypes) + bytes([1 if generic else 0, ce])
    b += bytes(softmax if softmax is not None else [0] * 7)
    b += bytes(shard if shard is not None else [0, 0])
    if op in SELECTION:
        b += bytes(select if select is not None else selection())
    if op == LINEAR:
        b += bytes(lin if lin is not None else linear())
    if options is None:
        b += bytes([0])
    else:
        b += bytes([1]) + bytes(options)  # reduction, ignore, smoothing, z, weight kind
    b += struct.pack("<II", rng.getrandbits(32), rng.getrandbits(32))
    rows = (rows_byte & 0x3F) if rows_byte & 0x80 else rows_byte % 5
    # Valid targets unless given (a byte of 14 or 15 mod 16 is an invalid one, 12 or 13 the ignore index).
    b += bytes(targets) if targets is not None else bytes(rng.getrandbits(8) % 12 for _ in range(rows))
    b += bytes(style)
    b += bytes([len(overrides)])
    for where, kind in overrides:  # backward: where, kind, which input; others: where, kind
        b += struct.pack("<H", where) + bytes([kind] + ([rng.getrandbits(1)] if op in BACKWARD else []))
    if op in (SOFT_LOSS, SOFT_GRAD):
        b += bytes([len(prob_overrides)])
        for where, kind in prob_overrides:
            b += struct.pack("<H", where) + bytes([kind])
    return bytes(b)


def sweep(rng, seeds):
    """Every operation on every ISA, with random shapes, layouts, dtypes and options."""
    cols_words = {"c7": C7, "c33": C33, "c300": C300, "c4097": C4097, "c8193": C8193}
    for op in range(11):
        for isa_name in ("null", "reference", "scalar", "sse2", "avx2", "avx512"):
            for cols_name, word in cols_words.items():
                if rng.random() < 0.75:
                    continue
                style = (rng.randrange(8), rng.randrange(4))
                options = [rng.randrange(6), rng.randrange(4), rng.randrange(6), rng.randrange(7), rng.randrange(7)]
                rows_byte = rng.choice([1, 2, 3, 4, 0x80 | 9])
                dtypes = (F32, F32, F32)
                if op < SHARD_LOSS and rng.random() < 0.5:
                    dtypes = tuple(rng.choice([F32, F16, BF16]) for _ in range(3))
                softmax = None
                if op in TRANSFORMED and rng.random() < 0.5:
                    softmax = transform(scale=rng.choice([0, 6, 7, 8, 9]), softcap=rng.choice([0, 8, 10]),
                                        mask_kind=rng.choice([0, 4, 5, 6]), mask_dtype=rng.choice([0, 3, 5]),
                                        mask_rows=rng.randrange(4), per_head=rng.randrange(8),
                                        slopes=rng.choice([0, 4, 5]), sinks=rng.choice([0, 4, 5]),
                                        valid=rng.choice([0, 4]))
                ce = ce_transform(rng.randrange(7), rng.randrange(7)) if op in CROSS_ENTROPY and rng.random() < 0.3 else 0
                shard = shards(count=rng.randrange(1, 5), seed=rng.getrandbits(8)) if op >= SHARD_LOSS else None
                seeds[f"op{op}-{isa_name}-{cols_name}-s{style[0]}"] = case(
                    rng, op, ISA[isa_name], rows_byte, word, strides=(rng.choice([0, 10, 11]), 0, rng.choice([0, 12])),
                    threads=rng.choice([0, 1, 2]), pool=rng.choice([0, 3, 7]), dtypes=dtypes,
                    generic=rng.random() < 0.3, ce=ce, softmax=softmax, shard=shard, options=options, style=style,
                    overrides=[(rng.getrandbits(16), rng.randrange(16)) for _ in range(rng.randrange(4))])


def edges(rng, seeds):
    """rows == 0 with NULL pointers, invalid shapes and options, overlaps, specials (float calls)."""
    seeds["edge-rows0-null"] = case(rng, SOFTMAX, 0, 0, 5 << 3, null=15)
    seeds["edge-cols0"] = case(rng, LOG_SOFTMAX, 0, 2, 0 << 3 | 4)
    seeds["edge-stride-short"] = case(rng, LOGSUMEXP, 0, 3, 9 << 3, strides=(14, 0, 0))
    seeds["edge-stride-overflow"] = case(rng, SOFTMAX_BWD, 0, 3, 9 << 3, strides=(15, 0, 0))
    seeds["edge-cols-overflow"] = case(rng, SOFTMAX, 0, 2, 7)
    seeds["edge-threads-negative"] = case(rng, SOFTMAX, 0, 2, 9 << 3, threads=-1)
    seeds["edge-isa-bogus"] = case(rng, LOG_SOFTMAX, ISA["bogus"], 2, 9 << 3)
    seeds["edge-isa-neon"] = case(rng, CE_LOSS, ISA["neon"], 2, 9 << 3, options=[0, 0, 0, 0, 0])
    seeds["edge-overlap-shifted"] = case(rng, SOFTMAX, 0, 3, 20 << 3, alias=SHIFTED)
    seeds["edge-overlap-other-stride"] = case(rng, LOG_SOFTMAX, 0, 3, 20 << 3, alias=OTHER_STRIDE)
    seeds["edge-in-place"] = case(rng, SOFTMAX, 0, 3, 20 << 3, alias=IN_PLACE)
    seeds["edge-ce-in-place"] = case(rng, CE_GRAD, 0, 3, 20 << 3, alias=IN_PLACE, options=[2, 0, 3, 4, 4])
    seeds["edge-bwd-in-place-dy"] = case(rng, SOFTMAX_BWD, 0, 3, 20 << 3, alias=IN_PLACE_SECOND)
    seeds["edge-loss-in-logits"] = case(rng, CE_LOSS, 0, 3, 20 << 3, alias=LOSS_IN_INPUT, options=[2, 0, 0, 0, 0])
    seeds["edge-bad-smoothing"] = case(rng, CE_GRAD, 0, 3, 20 << 3, options=[0, 0, 8, 0, 0])
    seeds["edge-bad-weight"] = case(rng, CE_GRAD, 0, 3, 20 << 3, options=[0, 0, 0, 0, 7])
    seeds["edge-bad-z"] = case(rng, CE_GRAD, 0, 3, 20 << 3, options=[0, 0, 0, 6, 0])
    seeds["edge-bad-reduction"] = case(rng, SOFT_GRAD, 0, 3, 20 << 3, options=[6, 0, 0, 0, 0])
    seeds["edge-huge-logits"] = case(rng, LOG_SOFTMAX, 0, 4, 30 << 3, style=(3, 0), overrides=[(1, 3), (2, 4), (3, 5)])
    seeds["edge-masked"] = case(rng, CE_GRAD, 0, 4, 30 << 3, style=(5, 0), options=[0, 0, 3, 4, 4])
    seeds["edge-all-masked-rows"] = case(rng, SOFT_GRAD, 0, 4, 30 << 3, style=(6, 2), options=[1, 0, 3, 5, 0])
    seeds["edge-nan-inf"] = case(rng, CE_GRAD, 0, 0x80 | 12, 30 << 3, style=(7, 0), options=[0, 0, 0, 4, 5])
    seeds["edge-denormals"] = case(rng, SOFTMAX, 0, 4, 30 << 3, style=(4, 0))
    seeds["edge-88-100"] = case(rng, LOGSUMEXP, 0, 4, 30 << 3, style=(2, 0))
    seeds["edge-pool-many-rows"] = case(rng, CE_GRAD, 0, 0x80 | 40, 129 << 3 | 4, pool=3, options=[0, 0, 3, 0, 4])
    seeds["edge-pool-long-row"] = case(rng, SOFTMAX, 0, 1, 8 << 3 | 6, pool=7)


def dtype_seeds(rng, seeds):
    """Each operation in a few dtype combinations; dtypes outside the enum; in place and overlaps
    between operands of different dtypes."""
    mixes = [(F16, F16, F16), (BF16, BF16, BF16), (F16, BF16, F32), (BF16, F32, F16), (F32, F16, BF16)]
    for op in range(SHARD_LOSS):
        for mix in rng.sample(mixes, 3):
            name = "-".join(DTYPE_NAMES[d] for d in mix)
            seeds[f"dtype-{SLOT_NAMES[op]}-{name}"] = case(
                rng, op, rng.choice([0, 3, 5, 6]), rng.choice([2, 3, 0x80 | 9]), rng.choice([C7, C33, C300]),
                strides=(rng.choice([0, 10]), 0, rng.choice([0, 11])), dtypes=mix, generic=True,
                options=[rng.randrange(3), 0, rng.randrange(6), rng.randrange(6), rng.randrange(7)],
                style=(rng.randrange(8), rng.randrange(4)))
        for which, name in enumerate(("first", "second", "output")):
            dtypes = [F32, F32, F32]
            dtypes[which] = INVALID[rng.choice(list(INVALID))]
            seeds[f"dtype-invalid-{name}-{SLOT_NAMES[op]}"] = case(rng, op, 0, 2, C7, dtypes=tuple(dtypes),
                                                                  options=[0, 0, 0, 0, 0])
    seeds["dtype-long-row-f16"] = case(rng, SOFTMAX, 0, 1, C4097, dtypes=(F16, F16, F16), style=(2, 0))
    seeds["dtype-long-row-bf16-ce"] = case(rng, CE_GRAD, 0, 2, C4097, dtypes=(BF16, F32, BF16), options=[0, 0, 3, 4, 0])
    seeds["dtype-huge-f16-output"] = case(rng, LOG_SOFTMAX, 0, 3, C33, dtypes=(F32, F32, F16), style=(3, 0))
    seeds["dtype-f16-input-overflows"] = case(rng, SOFTMAX, 0, 3, C33, dtypes=(F16, F32, F32), style=(2, 0),
                                              overrides=[(1, 3), (5, 4)])
    seeds["dtype-in-place-f16"] = case(rng, SOFTMAX, 0, 3, C33, alias=IN_PLACE, dtypes=(F16, F32, F16))
    seeds["dtype-in-place-bf16-ce"] = case(rng, CE_GRAD, 0, 3, C33, alias=IN_PLACE, dtypes=(BF16, F32, BF16),
                                           options=[1, 0, 3, 0, 0])
    seeds["dtype-in-place-dy-bf16"] = case(rng, LOG_SOFTMAX_BWD, 0, 3, C33, alias=IN_PLACE_SECOND,
                                           dtypes=(F32, BF16, BF16))
    seeds["dtype-in-place-cross-f16-f32"] = case(rng, LOG_SOFTMAX, 0, 3, C33, alias=IN_PLACE, dtypes=(F16, F32, F32))
    seeds["dtype-in-place-cross-f16-bf16"] = case(rng, SOFTMAX_BWD, 0, 3, C33, alias=IN_PLACE, dtypes=(F16, F16, BF16))
    seeds["dtype-grad-on-probs"] = case(rng, SOFT_GRAD, 0, 3, C33, alias=IN_PLACE_SECOND, dtypes=(F32, F16, F16),
                                        options=[0, 0, 0, 0, 0])
    seeds["dtype-adjacent-f16-f32"] = case(rng, SOFTMAX, 0, 3, C7, alias=ADJACENT, dtypes=(F16, F32, F32))
    seeds["dtype-adjacent-lse-bf16"] = case(rng, LOGSUMEXP, 0, 3, (7 << 3), alias=ADJACENT, dtypes=(BF16, F32, F32))
    seeds["dtype-last-element-f16-f32"] = case(rng, SOFTMAX, 0, 3, C7, alias=LAST_ELEMENT, dtypes=(F16, F32, F32))
    seeds["dtype-last-element-f32-bf16"] = case(rng, LOG_SOFTMAX_BWD, 0, 3, C7, alias=LAST_ELEMENT,
                                                dtypes=(F32, F32, BF16))
    seeds["dtype-shifted-bf16"] = case(rng, CE_GRAD, 0, 2, C33, alias=SHIFTED, dtypes=(BF16, F32, BF16),
                                       options=[0, 0, 0, 0, 0])
    seeds["dtype-loss-in-grad"] = case(rng, CE_GRAD, 0, 2, C33, alias=LOSS_IN_OUTPUT, dtypes=(F16, F32, F16),
                                       options=[2, 0, 0, 0, 0])
    seeds["dtype-stride-overflow-f16"] = case(rng, SOFTMAX, 0, 3, C7, strides=(15, 0, 0), dtypes=(F16, F32, F16))
    seeds["dtype-cols-overflow-bf16"] = case(rng, LOGSUMEXP, 0, 2, 7, dtypes=(BF16, F32, F32))
    seeds["dtype-loss-only-garbage-grad"] = case(rng, CE_LOSS, 0, 3, C33, strides=(0, 0, 14), generic=True,
                                                 dtypes=(F16, F32, INVALID["1000"]), options=[1, 0, 0, 0, 0])
    seeds["dtype-null-first-invalid"] = case(rng, SOFTMAX, 0, 2, C7, null=null_byte(0), dtypes=(INVALID["3"], F32, F32))


def transform_seeds(rng, seeds):
    """The softmax options: each field, valid and not, and the rows they make all masked."""
    def t(name, op=SOFTMAX, rows=3, cols=C33, dtypes=(F32, F32, F32), alias=0, style=(0, 0), **fields):
        seeds["transform-" + name] = case(rng, op, rng.choice([0, 2, 5, 6]), rows, cols, alias=alias, dtypes=dtypes,
                                          softmax=transform(**fields), style=style)
    t("defaults-only", op=LOG_SOFTMAX, mode=1)
    t("scale", scale=6)
    t("scale-huge", op=LOG_SOFTMAX, scale=12, style=(1, 0))
    t("scale-tiny", op=LOGSUMEXP, scale=13, style=(3, 0))
    t("scale-overflows", op=LOG_SOFTMAX, scale=8, style=(3, 0), rows=4)  # 2 * 3e38
    for i, name in enumerate(("zero", "negative", "nan", "inf")):
        t("scale-invalid-" + name, scale=15, selector=i)
    t("softcap", op=LOG_SOFTMAX, softcap=8, style=(1, 0))
    t("softcap-tiny", softcap=12, style=(3, 0))
    t("softcap-huge", op=LOGSUMEXP, softcap=13, scale=10)
    t("softcap-minus-zero", softcap=14)
    for i, name in enumerate(("negative", "nan", "inf", "minus-inf")):
        t("softcap-invalid-" + name, softcap=15, selector=i << 2)
    t("softcap-nan-inf-rows", softcap=10, style=(7, 0), rows=0x80 | 8)
    t("mask-bias-f32", mask_kind=4)
    t("mask-bias-f16", op=LOG_SOFTMAX, mask_kind=4, mask_dtype=3, dtypes=(F16, F32, F16))
    t("mask-bias-bf16", op=LOGSUMEXP, mask_kind=4, mask_dtype=5, dtypes=(BF16, F32, F32))
    t("mask-causal", op=LOG_SOFTMAX, mask_kind=5, mask_rows=1, rows=4)
    t("mask-causal-broadcast", mask_kind=5, mask_rows=0, rows=4)
    t("mask-padding-all-masked-rows", op=LOG_SOFTMAX, mask_kind=6, mask_rows=3, rows=0x80 | 6)
    t("mask-padding-all-masked-sinks", op=LOGSUMEXP, mask_kind=6, mask_rows=1, sinks=4, rows=4)
    t("mask-extremes", mask_kind=7, mask_dtype=5, scale=7)
    t("mask-stride", op=LOG_SOFTMAX, mask_kind=4, mask_stride=6)
    t("mask-stride-short", mask_kind=4, mask_stride=7)
    t("mask-rows-zero", mask_kind=4, bad_mask_rows=True)
    t("mask-rows-zero-rows0", mask_kind=4, bad_mask_rows=True, rows=0)
    t("mask-dtype-invalid", op=LOGSUMEXP, mask_kind=4, mask_dtype=7)
    t("mask-null-garbage", op=LOG_SOFTMAX, mask_kind=0, mask_dtype=7, bad_mask_rows=True, mask_stride=7)
    t("mask-output-inside", mask_kind=4, alias=IN_MASK)
    t("mask-lse-inside", op=LOGSUMEXP, mask_kind=5, alias=IN_MASK)
    t("alibi", op=LOG_SOFTMAX, mask_kind=4, per_head=2, slopes=4, rows=0x80 | 8)
    t("alibi-heads-of-3", mask_kind=5, per_head=4, slopes=4, rows=0x80 | 7)
    t("slopes-special", op=LOGSUMEXP, mask_kind=7, per_head=3, slopes=6, rows=4)
    t("slopes-zero-masked", mask_kind=5, slopes=6, per_head=5)
    t("slopes-invalid", mask_kind=4, per_head=2, slopes=7, rows=4)
    t("sinks", op=LOG_SOFTMAX, per_head=3, sinks=4, rows=4)
    t("sinks-large", op=LOGSUMEXP, per_head=6, sinks=5)
    t("sinks-huge", sinks=6, per_head=2, rows=4)
    t("sinks-invalid", op=LOG_SOFTMAX, sinks=7, per_head=2, rows=4)
    t("sinks-nan-rows", sinks=4, style=(7, 0), rows=0x80 | 10)
    t("valid-cols-random", op=LOG_SOFTMAX, valid=4, rows=0x80 | 6)
    t("valid-cols-zero", op=LOGSUMEXP, valid=5)
    t("valid-cols-zero-sinks", op=LOGSUMEXP, valid=5, sinks=4, per_head=2, rows=4)
    t("valid-cols-zero-softmax", valid=5, sinks=5)
    t("valid-cols-all", op=LOG_SOFTMAX, valid=6, scale=8)
    t("valid-cols-nan-padding", valid=4, style=(7, 0), rows=0x80 | 8)
    for i, name in enumerate(("negative", "past-cols", "min", "max")):
        t("valid-cols-invalid-" + name, valid=7, bad_valid=i)
    t("everything", op=LOG_SOFTMAX, scale=9, softcap=10, mask_kind=4, mask_dtype=3, mask_rows=3, per_head=3,
      slopes=5, sinks=4, valid=4, rows=4, dtypes=(BF16, F32, F16))
    t("everything-long-row", op=SOFTMAX, scale=7, softcap=9, mask_kind=6, mask_rows=1, sinks=4, valid=4, rows=2,
      cols=C4097, dtypes=(F16, F32, BF16))
    t("in-place-transformed", op=LOG_SOFTMAX, scale=6, mask_kind=4, alias=IN_PLACE, dtypes=(BF16, F32, BF16))


def cross_entropy_transform_seeds(rng, seeds):
    """logit_scale and softcap: each value on each cross-entropy call, and the invalid ones."""
    for scale, softcap, name in ((1, 0, "half"), (2, 2, "double-softcap30"), (6, 3, "softcap5"), (3, 4, "softcap-tiny"),
                                 (5, 0, "scale-huge"), (4, 5, "softcap-huge"), (0, 6, "softcap-minus-zero")):
        for op in (CE_GRAD, SOFT_GRAD, CE_LOSS):
            seeds[f"ce-transform-{name}-{SLOT_NAMES[op]}"] = case(
                rng, op, rng.choice([0, 2, 5, 6]), rng.choice([3, 0x80 | 7]), rng.choice([C33, C300]),
                dtypes=rng.choice([(F32, F32, F32), (BF16, F16, F16)]), ce=ce_transform(scale, softcap),
                options=[rng.randrange(3), rng.randrange(4), rng.randrange(6), rng.choice([0, 4, 5]), rng.randrange(7)],
                style=(rng.choice([0, 1, 3, 5, 7]), rng.randrange(4)))
    for i, name in enumerate(("zero", "negative", "nan", "inf")):
        seeds[f"ce-transform-invalid-scale-{name}"] = case(rng, CE_GRAD, 0, 2, C7, ce=ce_transform(7, 0),
                                                           softmax=[0, i << 4, 0, 0, 0, 0, 0], options=[0, 0, 0, 0, 0])
        seeds[f"ce-transform-invalid-softcap-{name}"] = case(rng, SOFT_LOSS, 0, 2, C7, ce=ce_transform(0, 7),
                                                             softmax=[0, (i << 2) << 4, 0, 0, 0, 0, 0],
                                                             options=[0, 0, 0, 0, 0])
    seeds["ce-transform-masked-smoothing"] = case(rng, CE_GRAD, 0, 4, C33, ce=ce_transform(2, 3), style=(5, 0),
                                                  options=[1, 0, 3, 0, 0])
    seeds["ce-transform-long-row"] = case(rng, CE_GRAD, 0, 1, C8193, ce=ce_transform(6, 2), options=[0, 0, 4, 4, 4],
                                          dtypes=(F16, F32, BF16))


def shard_seeds(rng, seeds):
    """Sharded cross-entropy: shard counts, options, faults, NULL pointers, aliasing and edge rows."""
    def s(name, op=SHARD_GRAD, rows=3, cols=C33, options=(0, 0, 0, 0, 0), style=(0, 0), ce=0, alias=0, null=0,
          targets=None, **shard_fields):
        seeds["shard-" + name] = case(rng, op, rng.choice([0, 2, 3, 5, 6]), rows, cols, alias=alias, null=null, ce=ce,
                                      shard=shards(seed=rng.getrandbits(8), **shard_fields), options=list(options),
                                      style=style, pool=rng.choice([0, 3, 7]), threads=rng.choice([0, 1, 2]),
                                      targets=targets)
    for count in (1, 2, 3, 4):
        s(f"count{count}", count=count, options=(rng.randrange(3), rng.randrange(4), 0, 0, 0))
        s(f"count{count}-loss", op=SHARD_LOSS, count=count, options=(2, 0, 0, 0, 0))
    s("smoothing-weights-z", count=3, options=(0, 0, 3, 4, 4))
    s("smoothing-one-sum", count=2, options=(1, 1, 5, 5, 5), rows=0x80 | 6)
    s("zero-weights", count=3, options=(0, 0, 0, 0, 6))
    s("ignored-rows", count=2, options=(2, 2, 0, 0, 0), rows=0x80 | 8)
    s("transform", count=3, ce=ce_transform(2, 3), options=(0, 0, 3, 4, 0))
    s("transform-huge-scale", count=2, ce=ce_transform(5, 0), options=(2, 0, 0, 0, 0), style=(3, 0))
    s("nan-inf-rows", count=3, style=(7, 0), rows=0x80 | 10, options=(2, 0, 0, 0, 0))
    s("masked-rows", count=4, style=(6, 0), rows=0x80 | 8, options=(1, 0, 3, 0, 0))
    s("huge-logits", count=2, style=(3, 0), options=(2, 0, 4, 0, 0))
    s("long-row", count=4, cols=C8193, rows=1, options=(0, 0, 3, 0, 4))
    s("long-row-4097", count=2, cols=C4097, rows=2, options=(2, 0, 0, 4, 0))
    s("in-place", count=3, alias=IN_PLACE, options=(1, 0, 3, 0, 0))
    s("other-stride", count=2, alias=OTHER_STRIDE)
    s("loss-in-merged", count=2, alias=LOSS_IN_INPUT)
    s("finish-without-logits", op=SHARD_LOSS, count=3, without_logits=True, options=(2, 0, 3, 0, 0))
    s("null-logits", count=2, null=null_byte(0))
    s("null-targets", count=2, null=null_byte(1))
    s("null-merged", count=2, null=null_byte(2))
    s("null-stats", count=2, null=null_byte(2, stats=True))
    s("null-loss", count=2, null=null_byte(3))
    for fault, name in ((1, "no-columns"), (2, "past-the-end"), (3, "total-zero"), (4, "offset-past-total")):
        s("fault-" + name, fault=fault, count=2)
    s("fault-rows0", fault=2, rows=0)
    s("bad-target", count=2, options=(0, 0, 0, 0, 0), rows=3, targets=[1, 14, 12])
    s("bad-target-minus1", op=SHARD_LOSS, count=3, options=(2, 0, 0, 0, 0), rows=3, targets=[30, 2, 14])
    s("bad-weight", count=2, options=(0, 0, 0, 0, 7))
    s("bad-softcap", count=2, ce=ce_transform(0, 7), options=(0, 0, 0, 0, 0))


def top_k_seeds(rng, seeds):
    """softxent_top_k: every dtype and ISA, k from 1 to cols and past its limits, ties (zeros of both
    signs), masked and poisoned rows, the transform's fields, NULL outputs, overlaps, strides."""
    def t(name, k=0, rows=3, cols=C33, dtypes=(F32, F32, F32), style=(0, 0), isa=None, alias=0, null=0, strides=(0, 0, 0),
          softmax=None, overrides=(), **select_fields):
        seeds["top-k-" + name] = case(rng, TOP_K, isa if isa is not None else rng.choice([0, 2, 3, 5, 6]), rows, cols,
                                      strides=strides, alias=alias, null=null, threads=rng.choice([0, 1, 2]),
                                      pool=rng.choice([0, 0, 3, 7]), dtypes=dtypes, softmax=softmax, style=style,
                                      overrides=overrides, select=selection(k=k, **select_fields))
    for dtype in (F32, F16, BF16):
        for isa_name in ("reference", "scalar", "sse2", "avx2", "avx512"):
            t(f"{DTYPE_NAMES[dtype]}-{isa_name}", k=rng.choice([0, 2, 4, 5, 6, 9]), dtypes=(dtype, F32, F32), isa=ISA[isa_name],
              rows=rng.choice([2, 3, 0x80 | 9]), cols=rng.choice([C7, C33, C300]), style=(rng.choice([0, 1, 5, 7]), 0),
              spread=rng.randrange(16))
    t("k-cols", k=7, cols=C300, dtypes=(BF16, F32, F32))
    t("k-cols-minus-1", k=8, cols=C7)
    t("k-1024-long-row", k=11, rows=2, cols=C4097, dtypes=(F16, F32, F32))
    t("k-64-long-row", k=10, rows=1, cols=C8193, style=(1, 0))
    t("k-invalid-zero", k=12)
    t("k-invalid-past-cols", k=13, dtypes=(F16, F32, F32))
    t("k-invalid-1025", k=14, cols=C4097, rows=1)
    t("k-invalid-size-max", k=15)
    t("k-invalid-rows0", k=12, rows=0)
    t("rows0-null", k=2, rows=0, null=null_byte(0))
    t("ties-zeros", k=9, style=(4, 0), rows=4, cols=C300)
    t("ties-zeros-bf16", k=5, style=(4, 0), rows=4, dtypes=(BF16, F32, F32))
    t("masked-rows", k=7, style=(6, 0), rows=0x80 | 8)
    t("fewer-unmasked-than-k", k=9, style=(5, 0), rows=4, cols=C300)
    t("nan-inf-rows", k=3, style=(7, 0), rows=0x80 | 10, overrides=[(0, 8), (1, 7)])
    t("huge", k=5, style=(3, 0), rows=4)
    t("null-log-probs", k=3, log_probs_null=True)
    t("null-lse", k=3, lse_null=True, dtypes=(F16, F32, F32))
    t("null-both", k=4, log_probs_null=True, lse_null=True)
    t("null-indices", k=2, null=null_byte(2))
    t("null-logits", k=2, null=null_byte(0))
    t("dtype-invalid", k=2, dtypes=(INVALID["1000"], F32, F32))
    t("stride", k=5, strides=(12, 0, 0), dtypes=(F16, F32, F32))
    t("stride-short", k=2, strides=(14, 0, 0))
    t("indices-in-logits", k=3, alias=SHIFTED)
    t("indices-after-logits", k=3, alias=ADJACENT, dtypes=(F16, F32, F32))
    t("indices-in-last-logit", k=3, alias=LAST_ELEMENT, dtypes=(BF16, F32, F32))
    t("log-probs-in-logits", k=3, alias=LOSS_IN_INPUT)
    t("lse-in-log-probs", k=4, alias=LOSS_IN_OUTPUT)
    t("lse-in-log-probs-null", k=4, alias=LOSS_IN_OUTPUT, log_probs_null=True)
    t("indices-in-mask", k=3, alias=IN_MASK, softmax=transform(mask_kind=4))
    t("scale", k=5, softmax=transform(scale=9), dtypes=(F16, F32, F32))
    t("softcap", k=5, softmax=transform(softcap=10), style=(1, 0))
    t("softcap-tiny-saturates", k=9, softmax=transform(softcap=12), style=(1, 0), cols=C300)
    t("mask-causal", k=4, rows=4, softmax=transform(mask_kind=5, mask_rows=1))
    t("mask-padding-all-masked", k=6, rows=0x80 | 6, softmax=transform(mask_kind=6, mask_rows=3))
    t("alibi", k=5, rows=0x80 | 8, softmax=transform(mask_kind=4, mask_dtype=3, per_head=2, slopes=4))
    t("sinks", k=4, rows=4, softmax=transform(per_head=3, sinks=4))
    t("sinks-all-masked", k=3, rows=4, softmax=transform(valid=5, sinks=5, per_head=2))
    t("valid-cols", k=9, rows=0x80 | 6, softmax=transform(valid=4), style=(7, 0))
    t("transform-invalid-scale", k=2, softmax=transform(scale=15, selector=2))
    t("transform-invalid-valid-cols", k=2, softmax=transform(valid=7, bad_valid=1))
    t("everything", k=6, rows=4, dtypes=(BF16, F32, F32),
      softmax=transform(scale=9, softcap=10, mask_kind=4, mask_dtype=3, mask_rows=3, per_head=3, slopes=5, sinks=4,
                        valid=4))
    t("scale-overflows", k=3, rows=4, style=(3, 0), softmax=transform(scale=8))


def sample_seeds(rng, seeds):
    """softxent_sample: every dtype and ISA, greedy and every filter alone and together, temperatures
    from 1e-40 to 100, seeds and offsets, options NULL or defaults, each invalid option, NULL pointers,
    overlaps (tokens over the seeds), the transform, masked and poisoned rows."""
    def s(name, rows=3, cols=C33, dtypes=(F32, F32, F32), style=(0, 0), isa=None, alias=0, null=0, strides=(0, 0, 0),
          softmax=None, overrides=(), **select_fields):
        seeds["sample-" + name] = case(rng, SAMPLE, isa if isa is not None else rng.choice([0, 2, 3, 5, 6]), rows, cols,
                                       strides=strides, alias=alias, null=null, threads=rng.choice([0, 1, 2]),
                                       pool=rng.choice([0, 0, 3, 7]), dtypes=dtypes, softmax=softmax, style=style,
                                       overrides=overrides, select=selection(**select_fields))
    combos = {"plain": {}, "greedy": dict(temperature=2), "top-k": dict(top_k=8), "top-p": dict(temperature=4, top_p=3),
              "min-p": dict(min_p=3), "combined": dict(temperature=7, top_k=8, top_p=10, min_p=8)}
    for dtype in (F32, F16, BF16):
        for name, fields in combos.items():
            s(f"{DTYPE_NAMES[dtype]}-{name}", dtypes=(dtype, F32, F32), rows=rng.choice([2, 4, 0x80 | 12]),
              cols=rng.choice([C7, C33, C300]), style=(rng.choice([0, 1, 5]), 0), seeds=rng.randrange(4),
              offset=rng.randrange(8), step=rng.randrange(32), **fields)
    for isa_name in ("reference", "scalar", "sse2", "avx2", "avx512"):
        s("isa-" + isa_name, isa=ISA[isa_name], rows=0x80 | 16, cols=C300, temperature=4, top_p=3, min_p=7,
          seeds=rng.randrange(4))
    s("options-null", options=0)
    s("options-defaults", options=1, dtypes=(BF16, F32, F32))
    s("greedy-ties-zeros", temperature=2, style=(4, 0), rows=4)
    s("greedy-minus-zero", temperature=12, style=(1, 0))
    s("temperature-1e-3", temperature=10, rows=4)
    s("temperature-1e-30", temperature=13, style=(4, 0), rows=4)
    s("temperature-1e-40", temperature=14, style=(4, 0), rows=4)
    s("temperature-100", temperature=11, top_p=3, cols=C300)
    s("top-p-tiny", top_p=8)
    s("top-p-denormal", top_p=12, temperature=6)
    s("top-p-just-below-1", top_p=13, cols=C300)
    s("top-p-long-row", top_p=3, temperature=4, rows=1, cols=C8193, style=(1, 0))
    s("top-p-long-row-normal", top_p=3, rows=2, cols=C4097)
    s("top-k-cols-minus-1", top_k=9, dtypes=(F16, F32, F32))
    s("top-k-cols", top_k=10)
    s("top-k-1025-short-row", top_k=13, cols=C300)
    s("top-k-size-max", top_k=14)
    s("min-p-1", min_p=6, rows=4)
    s("min-p-denormal", min_p=14)
    s("seeds-shared", seeds=4, rows=0x80 | 8)
    s("seeds-zero", seeds=5, offset=3)
    s("seeds-ones", seeds=6, offset=5)
    s("seeds-row-index", seeds=7, offset=6, step=9)
    s("masked-rows", style=(6, 0), rows=0x80 | 8, top_p=3)
    s("masked-quarter", style=(5, 0), rows=4, min_p=4)
    s("nan-inf-rows", style=(7, 0), rows=0x80 | 10, overrides=[(0, 8), (1, 7)])
    s("huge", style=(3, 0), rows=4, top_p=4)
    s("null-log-probs", log_probs_null=True, top_k=6)
    s("null-seeds", null=null_byte(1))
    s("null-tokens", null=null_byte(2))
    s("null-logits", null=null_byte(0))
    s("rows0-null", rows=0, null=null_byte(1))
    s("rows0-invalid", rows=0, temperature=15)
    for i, name in enumerate(("negative", "nan", "inf", "minus-inf")):
        s("invalid-temperature-" + name, temperature=15, bad=i)
    for i, name in enumerate(("zero", "negative", "over-1", "nan")):
        s("invalid-top-p-" + name, top_p=15, bad=i)
    for i, name in enumerate(("negative", "over-1", "nan", "inf")):
        s("invalid-min-p-" + name, min_p=15, bad=i)
    s("invalid-top-k-1025", top_k=13, cols=C4097, rows=1)
    s("invalid-sinks", softmax=transform(sinks=4))
    s("dtype-invalid", dtypes=(INVALID["3"], F32, F32))
    s("tokens-over-seeds", alias=IN_PLACE_SECOND)
    s("tokens-in-logits", alias=SHIFTED)
    s("tokens-after-logits", alias=ADJACENT, dtypes=(BF16, F32, F32))
    s("log-probs-in-logits", alias=LOSS_IN_INPUT)
    s("log-probs-in-tokens", alias=LOSS_IN_OUTPUT)
    s("tokens-in-mask", alias=IN_MASK, softmax=transform(mask_kind=5))
    s("stride", strides=(11, 0, 0), dtypes=(F16, F32, F32), top_p=3)
    s("scale-softcap", softmax=transform(scale=9, softcap=10), temperature=4, top_p=3, style=(1, 0))
    s("mask-alibi", rows=0x80 | 8, softmax=transform(mask_kind=4, mask_dtype=5, per_head=2, slopes=4), min_p=4)
    s("mask-causal", rows=4, softmax=transform(mask_kind=5, mask_rows=1), top_k=6)
    s("valid-cols", rows=0x80 | 6, softmax=transform(valid=4), style=(7, 0), top_p=3)
    s("valid-cols-zero", rows=3, softmax=transform(valid=5))
    s("everything", rows=4, dtypes=(F16, F32, F32), temperature=7, top_k=8, top_p=10, min_p=8,
      softmax=transform(scale=9, softcap=10, mask_kind=4, mask_dtype=3, mask_rows=3, per_head=3, slopes=5, valid=4))


def linear_seeds(rng, seeds):
    """The fused linear cross-entropy: every option, ISA, NULL gradient, workspace kind, stride kind,
    aliasing and invalid argument."""
    def s(name, rows=3, lin=None, options=(0, 0, 0, 0, 0), style=(0, 0), ce=0, alias=0, null=0, strides=(0, 0, 0),
          isa=None, threads=None, pool=None, targets=None):
        seeds["linear-" + name] = case(rng, LINEAR, isa if isa is not None else rng.choice([0, 2, 3, 4, 5, 6]), rows, C7,
                                       strides=strides, alias=alias, null=null,
                                       threads=threads if threads is not None else rng.choice([0, 1, 2]),
                                       pool=pool if pool is not None else rng.choice([0, 3, 7]), ce=ce, options=options,
                                       style=style, targets=targets, lin=lin)
    for isa_name in ("null", "reference", "scalar", "sse2", "avx2", "avx512"):
        s("plain-" + isa_name, isa=ISA[isa_name], lin=linear(hidden=rng.randrange(1, 48), classes=rng.randrange(1, 48)),
          style=(rng.randrange(8), rng.randrange(4)), rows=0x80 | rng.randrange(1, 17))
    s("1x1x1", rows=1, lin=linear(hidden=1, classes=1))
    s("no-options", rows=4, lin=linear(hidden=16, classes=33))
    # Options: reduction (0 mean, 1 sum, 2 none, 6 invalid), ignore (1 0, 2 cols - 1), smoothing, z-loss, weights.
    s("sum", options=(1, 0, 3, 0, 4))
    s("none", rows=0x80 | 9, options=(2, 1, 4, 4, 5), targets=[0, 12, 3, 1, 12, 2, 4, 0, 1])
    s("mean-smoothing-z", options=(0, 2, 9, 5, 4), lin=linear(hidden=20, classes=40))
    s("mean-all-ignored", options=(0, 1, 0, 0, 0), targets=[12, 12, 12])
    s("mean-zero-weights", options=(0, 0, 0, 0, 6))
    s("smoothing-one", options=(1, 0, 5, 0, 0))
    s("weights-ones", options=(0, 0, 3, 4, 8))
    s("logit-scale-softcap", options=(0, 0, 3, 4, 4), ce=ce_transform(3, 2), style=(4, 0))
    s("softcap-small", options=(2, 0, 0, 0, 0), ce=ce_transform(1, 4), style=(6, 0))
    s("huge-scale", options=(1, 0, 0, 0, 0), ce=ce_transform(5, 0), style=(5, 0))
    s("saturated", options=(1, 0, 0, 0, 4), style=(6, 2), lin=linear(hidden=30, classes=12))
    s("tiny", style=(7, 3))
    s("zeros-subnormal", style=(0, 3), lin=linear(start=2))
    # Gradients and bias NULL, start values.
    s("bias-null", lin=linear(bias_null=True, start=2))
    s("grads-null", lin=linear(grad_inputs_null=True, grad_weight_null=True, grad_bias_null=True), options=(2, 0, 0, 0, 0))
    s("grad-weight-only", lin=linear(grad_inputs_null=True, grad_bias_null=True, start=0))
    s("grad-inputs-only", lin=linear(grad_weight_null=True, grad_bias_null=True, bias_null=True))
    # Workspace.
    s("workspace-misaligned", lin=linear(workspace=3))
    s("workspace-larger", lin=linear(workspace=4))
    s("workspace-short", lin=linear(workspace=5))
    s("workspace-null", lin=linear(workspace=6))
    s("workspace-null-rows0", rows=0, lin=linear(workspace=6))
    # Strides.
    s("strides", rows=0x80 | 7, strides=(11, 12, 13), lin=linear(hidden=9, classes=6, stride=10))
    s("stride-short-inputs", strides=(14, 0, 0))
    s("stride-short-weight", strides=(0, 14, 0))
    s("stride-short-grad-inputs", strides=(0, 0, 14))
    s("stride-short-grad-weight", lin=linear(stride=14))
    s("stride-overflow", strides=(0, 15, 0))
    s("stride-overflow-grad-weight-null", lin=linear(stride=15, grad_weight_null=True))
    # Invalid shapes, pointers, targets, options, exec.
    s("hidden-0", lin=linear(hidden=0))
    s("classes-0", lin=linear(classes=0))
    s("rows-0", rows=0, lin=linear(hidden=0))
    for index, what in enumerate(("inputs", "targets", "weight", "loss")):
        s("null-" + what, null=null_byte(index))
    s("target-invalid", targets=[0, 14, 1])
    s("target-invalid-high", targets=[0, 14 | 16, 1])
    s("options-invalid", options=(6, 0, 7, 0, 0))
    s("weights-invalid", options=(0, 0, 0, 0, 7))
    s("isa-bogus", isa=ISA["bogus"])
    s("threads-invalid", threads=-1)
    s("pool", rows=0x80 | 12, pool=3, threads=2, lin=linear(hidden=24, classes=40))
    # Aliasing.
    for mode, name in ((IN_PLACE, "in-place"), (IN_PLACE_SECOND, "grad-bias-at-bias"), (OTHER_STRIDE, "other-stride"),
                       (SHIFTED, "grad-weight-in-weight"), (LOSS_IN_INPUT, "loss-in-inputs"), (ADJACENT, "adjacent"),
                       (LAST_ELEMENT, "last-element"), (IN_MASK, "workspace-at-grad-inputs"),
                       (LOSS_IN_OUTPUT, "loss-in-grad-weight")):
        s("alias-" + name, alias=mode)
    s("alias-grad-weight-in-weight-1x1", alias=SHIFTED, lin=linear(hidden=1, classes=1))


def main():
    rng = random.Random(5)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    seeds = {}
    sweep(rng, seeds)
    edges(rng, seeds)
    dtype_seeds(rng, seeds)
    transform_seeds(rng, seeds)
    cross_entropy_transform_seeds(rng, seeds)
    shard_seeds(rng, seeds)
    top_k_seeds(rng, seeds)
    sample_seeds(rng, seeds)
    linear_seeds(random.Random(13), seeds)  # its own stream: the seeds above keep their bytes
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {out}")


if __name__ == "__main__":
    main()
