#!/usr/bin/python3
"""Regression quality of `backprop` against scikit-learn, on the same seeded splits.

    /usr/bin/python3 bench/regression_peer.py build/release/src/cli/backprop [--seeds 3]

Needs Debian's python3-sklearn (apt-get install python3-sklearn): this script only, never a build
dependency. For each data set, each seed s splits it 75/25 (train_test_split(random_state=s)),
writes the two parts as CSV, and reports the test R^2 (the mean over the outputs, scikit-learn's
r2_score default, the same formula as `backprop eval`) of
  - backprop: `train --targets T --normalize` (inputs and targets standardised from the training
    part, stored in the model), then `eval --targets T` on the test part;
  - MLPRegressor of the same hidden layers, activation, optimizer (Adam), learning rate, batch and
    epochs, inside StandardScaler on the inputs and on the targets (TransformedTargetRegressor),
    random_state=s;
  - LinearRegression inside StandardScaler (ordinary least squares: the baseline).
Prints one markdown table: mean and [min, max] over the seeds, and the wall time of each fit.

Data sets: scikit-learn's bundled diabetes (442 x 10, one target) and linnerud (20 x 3, three
targets: tiny, it shows what each method does with almost no data), and Friedman #1 (make_friedman1,
2000 x 10, noise 1.0: y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + noise, five inputs
irrelevant), drawn with random_state=0.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes, load_linnerud, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# name, loader, hidden widths, activation, learning rate, batch, epochs
DATASETS = [
    ("diabetes", lambda: load_diabetes(return_X_y=True), (32,), "tanh", 0.001, 16, 200),
    ("friedman1", lambda: make_friedman1(2000, 10, noise=1.0, random_state=0), (64, 64), "tanh",
     0.001, 32, 200),
    ("linnerud", lambda: load_linnerud(return_X_y=True), (8,), "tanh", 0.001, 4, 200),
]


def write_csv(path, X, Y):
    np.savetxt(path, np.hstack([X, Y.reshape(len(Y), -1)]), delimiter=",", fmt="%.9g")


def ours(bp, tmp, Xtr, Ytr, Xte, Yte, hidden, act, eta, batch, epochs, seed):
    T = Ytr.reshape(len(Ytr), -1).shape[1]
    write_csv(os.path.join(tmp, "train.csv"), Xtr, Ytr)
    write_csv(os.path.join(tmp, "test.csv"), Xte, Yte)
    layers = "-".join(str(n) for n in (Xtr.shape[1],) + hidden + (T,))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    t0 = time.perf_counter()
    subprocess.run([bp, "train", "--train-csv", "train.csv", "--test-csv", "test.csv",
                    "--targets", str(T), "--normalize", "--layers", layers, "--hidden", act,
                    "--output", "identity", "--cost", "quadratic", "--init", "xavier",
                    "--optimizer", "adam", "--eta", str(eta), "--schedule", "constant",
                    "--batch", str(batch), "--epochs", str(epochs), "--seed", str(seed + 1),
                    "--quiet", "--out", "m.bpn"], cwd=tmp, env=env, check=True,
                   capture_output=True)
    seconds = time.perf_counter() - t0
    out = subprocess.run([bp, "eval", "--model", "m.bpn", "--csv", "test.csv", "--targets",
                          str(T)], cwd=tmp, env=env, check=True, capture_output=True,
                         text=True).stdout
    r2 = [float(line.split()[1]) for line in out.splitlines() if line.startswith("r2 ")][0]
    return r2, seconds


def sklearn_fit(model, Xtr, Ytr, Xte, Yte):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(Xtr, Ytr)
    seconds = time.perf_counter() - t0
    return r2_score(Yte, model.predict(Xte)), seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("backprop", help="path to the backprop program")
    ap.add_argument("--seeds", type=int, default=3, help="splits (random_state 0..N-1)")
    args = ap.parse_args()
    bp = os.path.abspath(args.backprop)
    rows = []
    for name, load, hidden, act, eta, batch, epochs in DATASETS:
        X, Y = load()
        res = {"backprop": [], "MLPRegressor": [], "LinearRegression": []}
        for seed in range(args.seeds):
            Xtr, Xte, Ytr, Yte = train_test_split(X, Y, test_size=0.25, random_state=seed)
            with tempfile.TemporaryDirectory() as tmp:
                res["backprop"].append(ours(bp, tmp, Xtr, Ytr, Xte, Yte, hidden, act, eta, batch,
                                            epochs, seed))
            mlp = MLPRegressor(hidden_layer_sizes=hidden, activation=act, solver="adam",
                               learning_rate_init=eta, batch_size=batch, max_iter=epochs,
                               random_state=seed, n_iter_no_change=epochs, tol=0.0)
            res["MLPRegressor"].append(sklearn_fit(
                TransformedTargetRegressor(make_pipeline(StandardScaler(), mlp),
                                           transformer=StandardScaler()), Xtr, Ytr, Xte, Yte))
            res["LinearRegression"].append(sklearn_fit(
                make_pipeline(StandardScaler(), LinearRegression()), Xtr, Ytr, Xte, Yte))
        shape = f"{X.shape[0]} x {X.shape[1]} -> {Y.reshape(len(Y), -1).shape[1]}"
        net = "-".join(str(n) for n in hidden) + f" {act}, {epochs} epochs"
        rows.append((name, shape, net, res))
    print(f"test R^2 over {args.seeds} seeded 75/25 splits: mean [min, max]; fit time (s, mean)\n")
    print("| data set | samples x features -> targets | hidden | backprop | MLPRegressor "
          "| LinearRegression |")
    print("|---|---|---|---|---|---|")
    for name, shape, net, res in rows:
        cells = []
        for k in ("backprop", "MLPRegressor", "LinearRegression"):
            r2 = np.array([r for r, _ in res[k]])
            t = np.mean([s for _, s in res[k]])
            cells.append(f"{r2.mean():.4f} [{r2.min():.4f}, {r2.max():.4f}]; {t:.2f} s")
        print(f"| {name} | {shape} | {net} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
