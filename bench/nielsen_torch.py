#!/usr/bin/env python3
"""Nielsen's first network in PyTorch and in backprop, seed for seed, on the same data.

    nielsen_torch.py [--data DIR] [--seeds 1,2,3,4,5] [--epochs 30] [--backprop PATH]
                     [--csv FILE] [--only torch|ours]

The setting of chapter 1 of Nielsen's "Neural Networks and Deep Learning" (network.py):
[784, 30, 10], sigmoid layers, quadratic cost C = 1/2 ||a - y||^2 per sample, weights and
biases drawn from N(0, 1), plain SGD with eta = 3 on mini-batches of 10, w <- w - eta/m sum grad,
the training set reshuffled every epoch, 30 epochs; the test accuracy after every epoch.

PyTorch (Debian's python3-torch, run it with /usr/bin/python3): nn.Linear layers whose weights and
biases are re-drawn with normal_(0, 1) from torch.manual_seed(seed), the loss
0.5 * sum((a - y)^2) / m (the mean over the batch of the per-sample cost, so that torch.optim.SGD
with lr = eta takes exactly w <- w - eta/m sum grad), torch.randperm from a generator seeded with
seed for the shuffle. backprop: `backprop train` with the flags that say the same (--init large is
N(0, 1) for both; --schedule constant), its per-epoch --log. The two cannot share random streams,
so the comparison is of the distributions over seeds: mean, standard deviation, min and max of
the test accuracy at epochs 10 and the last.

Both run with one thread (torch.set_num_threads(1), OPENBLAS_NUM_THREADS=1). The data is an
MNIST-format directory (Fashion-MNIST by default, the one installed here): 60000 training and 10000
test images, pixels scaled to [0, 1].
"""
import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

FLAGS = ["--layers", "784-30-10", "--hidden", "sigmoid", "--output", "sigmoid", "--cost",
         "quadratic", "--init", "large", "--optimizer", "sgd", "--eta", "3", "--batch", "10",
         "--schedule", "constant", "--weight-decay", "0", "--dropout", "0", "--quiet"]


def read_idx(path):
    """The array of an IDX file (plain or gzip), as numpy uint8 with its dimensions."""
    import numpy as np
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[2] != 0x08:
        sys.exit(f"{path}: not an unsigned-byte IDX file")
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def find(directory, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.exists(path):
            return path
    sys.exit(f"{directory}: no {name}[.gz]")


def load(directory, part):
    import torch
    images = read_idx(find(directory, f"{part}-images-idx3-ubyte"))
    labels = read_idx(find(directory, f"{part}-labels-idx1-ubyte"))
    x = torch.tensor(images.reshape(len(images), -1), dtype=torch.float32) / 255.0
    return x, torch.tensor(labels, dtype=torch.int64)


def torch_run(seed, epochs, train, test):
    """Test accuracy after each epoch of one seeded PyTorch run."""
    import torch
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(784, 30), torch.nn.Sigmoid(),
                              torch.nn.Linear(30, 10), torch.nn.Sigmoid())
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 1.0)
    opt = torch.optim.SGD(net.parameters(), lr=3.0)
    x, labels = train
    y = torch.nn.functional.one_hot(labels, 10).float()
    gen = torch.Generator().manual_seed(seed)
    accuracy = []
    m = 10
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for k in range(0, len(x), m):
            idx = perm[k:k + m]
            opt.zero_grad(set_to_none=True)
            loss = 0.5 * ((net(x[idx]) - y[idx]) ** 2).sum() / len(idx)
            loss.backward()
            opt.step()
        with torch.no_grad():
            accuracy.append((net(test[0]).argmax(1) == test[1]).float().mean().item())
    return accuracy


def ours_run(binary, seed, epochs, data):
    """Test accuracy after each epoch of one seeded `backprop train` run (its --log)."""
    with tempfile.TemporaryDirectory() as tmp:
        log, model = os.path.join(tmp, "log.csv"), os.path.join(tmp, "m.bpn")
        subprocess.run([binary, "train", "--data", data, *FLAGS, "--epochs", str(epochs),
                        "--seed", str(seed), "--log", log, "--out", model], check=True,
                       stdout=subprocess.DEVNULL)
        with open(log) as f:
            rows = [line.strip().split(",") for line in f][1:]
    return [float(r[4]) for r in rows]


def summary(values):
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} +- {sd:.4f} (min {min(values):.4f}, max {max(values):.4f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("BACKPROP_DATA",
                                                     "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--backprop", default="build/release/src/cli/backprop")
    ap.add_argument("--csv", help="write impl,seed,epoch,test_accuracy,seconds rows here")
    ap.add_argument("--only", choices=["torch", "ours"])
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    curves, rows = {}, []
    impls = [i for i in ("ours", "torch") if a.only in (None, i)]
    train = test = None
    if "torch" in impls:
        train, test = load(a.data, "train"), load(a.data, "t10k")
    for seed in seeds:
        for impl in impls:
            start = time.process_time() if impl == "torch" else time.time()
            if impl == "torch":
                acc = torch_run(seed, a.epochs, train, test)
                seconds = time.process_time() - start
            else:
                acc = ours_run(a.backprop, seed, a.epochs, a.data)
                seconds = time.time() - start
            curves.setdefault(impl, []).append(acc)
            rows += [(impl, seed, e + 1, v, seconds) for e, v in enumerate(acc)]
            print(f"{impl} seed {seed}: epoch 10 {acc[min(9, len(acc) - 1)]:.4f}, "
                  f"epoch {len(acc)} {acc[-1]:.4f} ({seconds:.0f} s)", flush=True)
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("impl,seed,epoch,test_accuracy,seconds\n")
            for r in rows:
                f.write(f"{r[0]},{r[1]},{r[2]},{r[3]:.4f},{r[4]:.1f}\n")
    for impl, cs in curves.items():
        for e in sorted({min(10, a.epochs), a.epochs}):
            print(f"{impl:5s} epoch {e:2d}: {summary([c[e - 1] for c in cs])}")


if __name__ == "__main__":
    main()
