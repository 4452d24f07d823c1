#!/usr/bin/env python3
"""PyTorch as a peer of bench_backprop: the same training steps in PyTorch, in the bench's CSV
format, optionally alternated with runs of bench_backprop itself and merged into one table.

    torch_peer.py [--nets 784-100-10,784-256-128-10] [--batches 1,10,128,1024] [--threads 1]
                  [--budget SECONDS] [--csv FILE] [--bench PATH --rounds N] [--table FILE]

A step is what bench_backprop's "default" row times: forward + backward + SGD update of one
mini-batch of B samples, on the same inputs (x_i = 0.5 + 0.5 sin(0.1 i), one-hot targets at
j mod n^L), the same initial scale and eta = 1e-3:
  784-100-10      sigmoid layers, quadratic cost 1/2 sum ||a - y||^2 (summed over the batch)
  784-256-128-10  ReLU layers, softmax output, negative log-likelihood (cross_entropy, sum)
then torch.optim.SGD with lr = eta / B (our w <- w - eta/B sum grad). Only the training loop is
timed: the model, data and optimiser are built before, each point runs one warm-up step, and every
repetition times one step (optimizer.zero_grad(set_to_none=True), forward, loss, backward, step).
Repetitions as in the bench: as many as --budget seconds allow, 3 to 31; median, min, max.

Threads: torch.set_num_threads(N) and OPENBLAS_NUM_THREADS=N (set before torch is imported).
Debian's python3-torch calls the system's libblas.so.3, which is OpenBLAS here: the script prints
the OpenBLAS core it runs (openblas_get_corename), and OPENBLAS_CORETYPE, when set, holds for
both programs, so that both run the same sgemm kernels.

With --bench PATH (bench_backprop) and --rounds N, each round runs bench_backprop on the same
nets, batches and threads (its own CSV), then the PyTorch points, so that a noisy machine slows
both alike; the merged table gives, per point, the median over rounds of each one's median
samples/s and their ratio (ours / PyTorch, above 1: we are faster). The CSV then holds every
round's rows of both, with the round number appended to the impl name (default#1, torch#1, ...).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

NETS = {
    "784-100-10": ("sigmoid", "quadratic"),
    "784-256-128-10": ("relu", "nll"),
}
ETA = 1e-3
CSV_HEADER = "network,batch,threads,impl,reps,median_s,min_s,max_s,samples_per_s,gflops,blas"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nets", default=",".join(NETS))
    p.add_argument("--batches", default="1,10,128,1024")
    p.add_argument("--threads", default="1")
    p.add_argument("--budget", type=float, default=1.0)
    p.add_argument("--csv", default="torch.csv")
    p.add_argument("--bench", help="bench_backprop to alternate with (merged table)")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--table", help="also write the merged markdown table to this file")
    a = p.parse_args()
    a.nets = [n for n in a.nets.split(",") if n]
    for n in a.nets:
        if n not in NETS:
            p.error(f"unknown network {n} (known: {', '.join(NETS)})")
    a.batches = [int(b) for b in a.batches.split(",")]
    a.threads = [int(t) for t in a.threads.split(",")]
    if a.rounds < 1 or a.budget <= 0 or min(a.batches) < 1 or min(a.threads) < 1:
        p.error("rounds, budget, batches and threads must be positive")
    return a


def step_flops(sizes, batch):
    """The bench's count: forward and eq. C products for every layer, eq. B from layer 3 on."""
    return sum(2.0 * (2.0 if l == 1 else 3.0) * sizes[l] * sizes[l - 1] * batch
               for l in range(1, len(sizes)))


class Point:
    """One network at one batch size: model, data, loss and optimiser, built untimed."""

    def __init__(self, torch, layers, batch):
        hidden, cost = NETS[layers]
        self.torch, self.batch = torch, batch
        self.sizes = [int(s) for s in layers.split("-")]
        mods = []
        for l in range(1, len(self.sizes)):
            lin = torch.nn.Linear(self.sizes[l - 1], self.sizes[l])
            if hidden == "relu":  # He, as the bench's BP_INIT_HE; Xavier for sigmoid
                torch.nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            else:
                torch.nn.init.xavier_normal_(lin.weight)
            torch.nn.init.zeros_(lin.bias)
            mods.append(lin)
            last = l == len(self.sizes) - 1
            if hidden == "sigmoid":
                mods.append(torch.nn.Sigmoid())
            elif not last:
                mods.append(torch.nn.ReLU())
        self.model = torch.nn.Sequential(*mods)
        n1, nl = self.sizes[0], self.sizes[-1]
        i = torch.arange(n1 * batch, dtype=torch.float64)
        self.x = (0.5 + 0.5 * torch.sin(0.1 * i)).float().reshape(batch, n1)
        self.labels = torch.arange(batch) % nl
        self.y = torch.nn.functional.one_hot(self.labels, nl).float()
        self.cost = cost
        self.opt = torch.optim.SGD(self.model.parameters(), lr=ETA / batch)

    def step(self):
        f = self.torch.nn.functional
        self.opt.zero_grad(set_to_none=True)
        out = self.model(self.x)
        if self.cost == "quadratic":
            loss = 0.5 * ((out - self.y) ** 2).sum()
        else:  # softmax + negative log-likelihood, summed over the batch
            loss = f.cross_entropy(out, self.labels, reduction="sum")
        loss.backward()
        self.opt.step()


def measure(point, budget):
    """Seconds per step: warm-up, then as many timed steps as the budget allows (3 to 31)."""
    t0 = time.perf_counter()
    point.step()
    once = time.perf_counter() - t0
    reps = max(3, min(31, int(budget / once) if once > 0 else 31))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        point.step()
        times.append(time.perf_counter() - t0)
    return times


def csv_row(layers, batch, threads, impl, times, sizes, blas):
    med = statistics.median(times)
    return (f"{layers},{batch},{threads},{impl},{len(times)},{med:.9g},{min(times):.9g},"
            f"{max(times):.9g},{batch / med:.6g},{step_flops(sizes, batch) / med * 1e-9:.6g},"
            f"{blas}")


def torch_round(torch, args, blas, tag=""):
    """Every PyTorch point once; CSV rows."""
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for layers in args.nets:
            for batch in args.batches:
                point = Point(torch, layers, batch)
                times = measure(point, args.budget)
                rows.append(csv_row(layers, batch, threads, "torch" + tag, times, point.sizes, blas))
    return rows


def bench_round(args, tag):
    """One run of bench_backprop on the same grid; its CSV rows, impl names tagged."""
    # A fresh directory, and the CSV read by name after the run: the bench writes it through a
    # temporary file renamed over the name, so a descriptor opened before would see the old file.
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "bench.csv")
        cmd = [args.bench, "--nets", ",".join(args.nets), "--batches",
               ",".join(map(str, args.batches)), "--threads", ",".join(map(str, args.threads)),
               "--budget", str(args.budget), "--csv", csv, "--kernels", "0"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(csv) as f:
            lines = f.read().splitlines()
        rows = []
        for line in lines[1:]:
            f = line.split(",")
            if f[0] in args.nets:
                f[3] += tag
                rows.append(",".join(f))
        return rows


def rate(x):
    return f"{x * 1e-6:.2f}M" if x >= 1e6 else f"{x * 1e-3:.1f}k" if x >= 1e3 else f"{x:.0f}"


def merged_table(rows, args):
    """Per point: the median over rounds of ours (default) and PyTorch's samples/s."""
    per = {}
    for r in rows:
        f = r.split(",")
        impl = f[3].split("#")[0]
        if impl in ("default", "torch"):
            per.setdefault((f[0], int(f[1]), int(f[2]), impl), []).append(float(f[8]))
    out = ["| network | B | thr | backprop default, samples/s (min-max of the rounds) "
           "| PyTorch (min-max of the rounds) | backprop / PyTorch |",
           "|---|--:|--:|--:|--:|--:|"]
    for layers in args.nets:
        for batch in args.batches:
            for thr in args.threads:
                ours = per.get((layers, batch, thr, "default"))
                peer = per.get((layers, batch, thr, "torch"))
                if not ours or not peer:
                    continue
                o, p = statistics.median(ours), statistics.median(peer)
                out.append(f"| {layers} | {batch} | {thr} | {rate(o)} ({rate(min(ours))}"
                           f"-{rate(max(ours))}) | {rate(p)} ({rate(min(peer))}-{rate(max(peer))})"
                           f" | **{o / p:.2f}** |")
    return "\n".join(out)


def main():
    args = parse_args()
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads[0])  # before torch loads OpenBLAS
    import torch  # noqa: E402 (after the environment is set)
    import ctypes
    try:
        blas = ctypes.CDLL("libblas.so.3")
        blas.openblas_get_corename.restype = ctypes.c_char_p
        core = blas.openblas_get_corename().decode()
        blas_name = "OpenBLAS " + core  # as bench_backprop names it
    except (OSError, AttributeError):
        core, blas_name = "not OpenBLAS", "unknown"
    print(f"PyTorch {torch.__version__}, libblas.so.3: OpenBLAS kernels {core}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}", flush=True)
    rows = []
    for rnd in range(1, args.rounds + 1):
        tag = f"#{rnd}" if args.bench else ""
        if args.bench:
            rows += bench_round(args, tag)
        rows += torch_round(torch, args, blas_name, tag)
        print(f"round {rnd}/{args.rounds} done", file=sys.stderr, flush=True)
    with open(args.csv, "w") as f:
        f.write(CSV_HEADER + "\n" + "\n".join(rows) + "\n")
    if args.bench:
        table = merged_table(rows, args)
        print(table)
        if args.table:
            with open(args.table, "w") as f:
                f.write(table + "\n")
    else:
        for r in rows:
            print(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
