#!/usr/bin/env python3
"""The least GM traffic of the MoGE FFN layer that tiles fitting a 910B AI core allow.

`cargo bench --bench moe_layer` counts every byte between GM and the cores and divides by the
compulsory bytes (each weight of a used expert, x and the outputs once). No tiling reaches that at
T >= 64: the f32 accumulator of an output tile must fit L0C, so a GEMM's output is made tile by tile,
and whatever operand does not stay on chip between tiles is read again. This script computes, from
the formulas alone, the least traffic over every tiling that fits the on-chip budgets, so a measured
ratio can be read against what is possible rather than against 1.

Model (one GEMM, r rows of A, K x N weights, bf16 operands, f32 accumulation):
  - A streamed: tiles m x n with m*n*4 <= L0C (128 KiB), m and n multiples of 16. Weights read
    ceil(r/m) times, A read ceil(N/n) times.
  - A resident in L1: the m x K rows of A stay in L1 (512 KiB, less two B stages of 16 x 16) while
    every n-tile streams its weights: A read once, weights ceil(r/m) times.
  The least of all is the floor. Routed GEMMs: rows per expert ~ Binomial(T, 1/8) (every token takes
  one expert of each group of 8 under uniform routing), summed in expectation. The (rows, I)
  activation between the two grouped GEMMs cannot be fused away (the down GEMM reduces over all of I,
  which spans n-tiles of the first), so it is written and read once; everything else (router,
  routing table, casts) is counted at its compulsory bytes.

Usage: python3 scripts/gm_floor.py [T ...]   (default: 1 8 64 456 1024 4096; Pangu's config;
       --medium for H=1024, E=64, G=8, I=256, S=512)
"""

import math
import sys

L0C = 128 * 1024
L1 = 512 * 1024
E_BYTES = 2


def gemm_floor(r, k, n_cols):
    """Least bytes (A reads + weight reads) of one GEMM of r rows over all tilings that fit."""
    if r == 0:
        return 0.0
    a, w = r * k * E_BYTES, k * n_cols * E_BYTES
    best = math.inf
    for m in range(16, 257, 16):
        for n in range(16, 1025, 16):
            if m * n * 4 > L0C:
                break
            best = min(best, math.ceil(r / m) * w + math.ceil(n_cols / n) * a)
        if m * k * E_BYTES + 2 * 16 * 16 * E_BYTES <= L1:
            best = min(best, math.ceil(r / m) * w + a)
    return best


def binomial(t, p):
    """(k, P[X = k]) of Binomial(t, p) with P > 1e-12."""
    out, q = [], 1.0 - p
    log = lambda x: math.log(x) if x > 0 else -math.inf
    for k in range(t + 1):
        lp = math.lgamma(t + 1) - math.lgamma(k + 1) - math.lgamma(t - k + 1) + k * log(p) + (t - k) * log(q)
        if lp > -28:
            out.append((k, math.exp(lp)))
    return out


def layer(t, h, e, g, i, s):
    """(floor bytes, compulsory bytes) of the layer at T = t."""
    slots = t * g
    pmf = binomial(t, 1.0 / (e // g))
    used = e * (1.0 - (1.0 - 1.0 / (e // g)) ** t)
    routed_w = used * (h * 2 * i + i * h) * E_BYTES
    shared_w = (h * 2 * s + s * h) * E_BYTES
    router = h * e * 4 + e * 4
    x, out = t * h * E_BYTES, t * h * E_BYTES
    table = 2 * (2 * slots * 4 + (e + 1) * 4)
    compulsory = routed_w + shared_w + router + x + out + table
    # Routed gate/up (K = H, N = 2I) and down (K = I, N = H), per expert in expectation.
    routed = e * sum(p * (gemm_floor(r, h, 2 * i) + gemm_floor(r, i, h)) for r, p in pmf)
    shared = gemm_floor(t, h, 2 * s) + gemm_floor(t, s, h)
    activations = 2 * (slots * i + t * s) * E_BYTES  # written once, read once
    floor = routed + shared + activations + router + out + table
    return floor, compulsory


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    config = (1024, 64, 8, 256, 512) if "--medium" in sys.argv else (5120, 64, 8, 1344, 5376)
    tokens = [int(a) for a in args] or [1, 8, 64, 456, 1024, 4096]
    h, e, g, i, s = config
    print(f"H={h} E={e} G={g} I={i} S={s}: least GM traffic of any tiling that fits a 910B core")
    print("| T | compulsory | floor | floor / compulsory |")
    print("|---|---|---|---|")
    for t in tokens:
        floor, compulsory = layer(t, h, e, g, i, s)
        print(f"| {t} | {compulsory / 1e6:.1f} MB | {floor / 1e6:.1f} MB | {floor / compulsory:.3f} |")


if __name__ == "__main__":
    main()
