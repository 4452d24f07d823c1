#!/usr/bin/env python3
"""The cost model of docs/scaling.md: one synchronous data-parallel step on P ranks.

    T(P) = T_c(b) + T_ar(P, n),  T_ar(P, n) = 2(P-1) alpha + 2(P-1)/P n beta  (ring all-reduce)

T_c(b): compute time of one step at the local batch b, from a measured step at batch B on one rank
(bench_mpi), taken as linear in the batch: T_c(b) = b * T_c(B) / B. n: bytes of the gradient
block (4 per parameter, plus bp_train's two flag slots).

    python3 scaling_model.py NET:PARAMS:STEP_MS ...   (STEP_MS: one rank, one thread, batch 128)
"""
import sys

B = 128                       # batch of the measured step
ALPHA = 1.5e-6                # s, MPI latency over a 100 Gb/s InfiniBand (EDR/HDR): 1-2 us
BETA = 1 / 12.5e9             # s/byte, 100 Gb/s = 12.5 GB/s


def t_ar(p, n, alpha=ALPHA, beta=BETA):
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * n * beta


print("| network | gradient bytes | P | all-reduce ms | speed-up, b = 128 per rank | "
      "speed-up, B = 4096 in all | b* (comm = compute) |")
print("|---|---|---|---|---|---|---|")
for arg in sys.argv[1:]:
    name, params, step_ms = arg.split(":")
    n, t_sample = 4 * (int(params) + 2), float(step_ms) * 1e-3 / B
    for p in (8, 64, 512):
        ar = t_ar(p, n)
        weak = p * (128 * t_sample) / (128 * t_sample + ar)          # local batch 128
        strong = (4096 * t_sample) / (4096 / p * t_sample + ar)      # global batch 4096
        print(f"| {name} | {n} | {p} | {ar * 1e3:.3f} | {weak:.1f} | {strong:.1f} | "
              f"{ar / t_sample:.0f} |")
