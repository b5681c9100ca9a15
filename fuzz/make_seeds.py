#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/corpus: a few cases of every operation on every ISA, with each value
style, stride kind and option kind. Its byte layout is the one c_api_checker.cpp's parse() reads.
Run from the repository root: python3 fuzz/make_seeds.py (deterministic)."""
import os
import random
import struct

OPS = 9
ISA = {"null": 0, "auto": 1, "reference": 2, "scalar": 3, "sse2": 4, "avx2": 5, "avx512": 6, "neon": 7, "bogus": 8}


def case(rng, op, isa, rows_byte, cols_word, strides=(0, 0, 0), alias=0, null=0, threads=1, pool=0,
         options=None, style=(0, 0), overrides=()):
    b = bytearray()
    b += bytes([op, rows_byte]) + struct.pack("<H", cols_word)
    b += bytes(strides) + bytes([alias, null, (threads + 1) << 3, isa, pool])
    b += struct.pack("<I", rng.getrandbits(32))
    if options is None:
        b += bytes([0])
    else:
        b += bytes([1]) + bytes(options)  # reduction, ignore, smoothing, z, weight kind
    b += struct.pack("<II", rng.getrandbits(32), rng.getrandbits(32))
    rows = (rows_byte & 0x3F) if rows_byte & 0x80 else rows_byte % 5
    b += bytes(rng.getrandbits(8) % 12 for _ in range(rows))  # valid targets
    b += bytes(style)
    b += bytes([len(overrides)])
    for where, kind in overrides:
        b += struct.pack("<H", where) + bytes([kind, 0])
    return bytes(b)


def main():
    rng = random.Random(5)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    seeds = {}
    cols_words = {"c7": (7 << 3) | 0, "c33": (33 << 3) | 3, "c300": (300 << 3) | 4, "c4097": (7 << 3) | 5,
                  "c8193": (8 << 3) | 6}
    for op in range(OPS):
        for isa_name in ("null", "reference", "scalar", "sse2", "avx2", "avx512"):
            for cols_name, word in cols_words.items():
                if rng.random() < 0.75:
                    continue
                style = (rng.randrange(8), rng.randrange(4))
                options = [rng.randrange(6), rng.randrange(4), rng.randrange(6), rng.randrange(7), rng.randrange(7)]
                rows_byte = rng.choice([1, 2, 3, 4, 0x80 | 9])
                seeds[f"op{op}-{isa_name}-{cols_name}-s{style[0]}"] = case(
                    rng, op, ISA[isa_name], rows_byte, word, strides=(rng.choice([0, 10, 11]), 0, rng.choice([0, 12])),
                    threads=rng.choice([0, 1, 2]), pool=rng.choice([0, 3, 7]), options=options, style=style,
                    overrides=[(rng.getrandbits(16), rng.randrange(16)) for _ in range(rng.randrange(4))])
    # Edges: rows == 0 with NULL pointers, invalid shapes and options, overlaps, specials.
    seeds["edge-rows0-null"] = case(rng, 1, 0, 0, 5 << 3, null=15)
    seeds["edge-cols0"] = case(rng, 2, 0, 2, 0 << 3 | 4)
    seeds["edge-stride-short"] = case(rng, 0, 0, 3, 9 << 3, strides=(14, 0, 0))
    seeds["edge-stride-overflow"] = case(rng, 3, 0, 3, 9 << 3, strides=(15, 0, 0))
    seeds["edge-cols-overflow"] = case(rng, 1, 0, 2, 7)
    seeds["edge-threads-negative"] = case(rng, 1, 0, 2, 9 << 3, threads=-1)
    seeds["edge-isa-bogus"] = case(rng, 2, ISA["bogus"], 2, 9 << 3)
    seeds["edge-isa-neon"] = case(rng, 5, ISA["neon"], 2, 9 << 3, options=[0, 0, 0, 0, 0])
    seeds["edge-overlap-shifted"] = case(rng, 1, 0, 3, 20 << 3, alias=5 | (4 << 3))
    seeds["edge-overlap-other-stride"] = case(rng, 2, 0, 3, 20 << 3, alias=5 | (3 << 3))
    seeds["edge-in-place"] = case(rng, 1, 0, 3, 20 << 3, alias=5 | (1 << 3))
    seeds["edge-ce-in-place"] = case(rng, 6, 0, 3, 20 << 3, alias=5 | (1 << 3), options=[2, 0, 3, 4, 4])
    seeds["edge-bwd-in-place-dy"] = case(rng, 3, 0, 3, 20 << 3, alias=5 | (2 << 3))
    seeds["edge-loss-in-logits"] = case(rng, 5, 0, 3, 20 << 3, alias=5 | (5 << 3), options=[2, 0, 0, 0, 0])
    seeds["edge-bad-smoothing"] = case(rng, 6, 0, 3, 20 << 3, options=[0, 0, 8, 0, 0])
    seeds["edge-bad-weight"] = case(rng, 6, 0, 3, 20 << 3, options=[0, 0, 0, 0, 7])
    seeds["edge-bad-z"] = case(rng, 6, 0, 3, 20 << 3, options=[0, 0, 0, 6, 0])
    seeds["edge-bad-reduction"] = case(rng, 8, 0, 3, 20 << 3, options=[6, 0, 0, 0, 0])
    seeds["edge-huge-logits"] = case(rng, 2, 0, 4, 30 << 3, style=(3, 0), overrides=[(1, 3), (2, 4), (3, 5)])
    seeds["edge-masked"] = case(rng, 6, 0, 4, 30 << 3, style=(5, 0), options=[0, 0, 3, 4, 4])
    seeds["edge-all-masked-rows"] = case(rng, 8, 0, 4, 30 << 3, style=(6, 2), options=[1, 0, 3, 5, 0])
    seeds["edge-nan-inf"] = case(rng, 6, 0, 0x80 | 12, 30 << 3, style=(7, 0), options=[0, 0, 0, 4, 5])
    seeds["edge-denormals"] = case(rng, 1, 0, 4, 30 << 3, style=(4, 0))
    seeds["edge-88-100"] = case(rng, 0, 0, 4, 30 << 3, style=(2, 0))
    seeds["edge-pool-many-rows"] = case(rng, 6, 0, 0x80 | 40, 129 << 3 | 4, pool=3, options=[0, 0, 3, 0, 4])
    seeds["edge-pool-long-row"] = case(rng, 1, 0, 1, 8 << 3 | 6, pool=7)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {out}")


if __name__ == "__main__":
    main()
