#!/usr/bin/env bash
# Tests of the `backprop` command-line program, run by ctest (label cli):
#   bash cli_test.sh path/to/backprop
# It writes a small 2-class problem (4 features, linearly separable with a margin) as CSV files
# with awk, then checks every subcommand's happy path and the failure cases: exit codes (0 ok,
# 1 runtime failure, 2 usage error), messages naming the flag or the problem, and that a failed
# train writes neither a model nor a log. Prints one line per check and "N passed, M failed";
# exits non-zero if any check failed.
# CLI_TEST_WRAPPER (optional) prefixes every run, e.g.
#   CLI_TEST_WRAPPER="valgrind -q --leak-check=full --errors-for-leak-kinds=all --error-exitcode=99"
set -u

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
    echo "usage: bash cli_test.sh path/to/backprop" >&2
    exit 2
fi
BP=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") # absolute: the checks run in a temp dir
read -r -a WRAP <<< "${CLI_TEST_WRAPPER:-}"
T=$(mktemp -d "${TMPDIR:-/tmp}/backprop-cli-test.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2

passed=0
failed=0
RC=0

# run ARGS...: run the program; exit status in RC, output in $T/out and $T/err.
run() {
    "${WRAP[@]}" "$BP" "$@" > "$T/out" 2> "$T/err"
    RC=$?
}

# check NAME COMMAND...: one check, passed if COMMAND succeeds.
check() {
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok     $name"
    else
        failed=$((failed + 1))
        echo "FAILED $name (exit status $RC)"
        sed 's/^/    stdout: /' "$T/out" | head -20
        sed 's/^/    stderr: /' "$T/err" | head -20
    fi
}

rc_is() { [ "$RC" -eq "$1" ]; }
out_has() { grep -q -e "$1" "$T/out"; }
err_has() { grep -q -e "$1" "$T/err"; }
lines_of() { wc -l < "$1" | tr -d ' '; }
absent() { for f in "$@"; do [ ! -e "$f" ] || return 1; done; }

# ---------------------------------------------------------------- data
# label = 1 if x1 + x2 - x3 + 0.5 x4 > 0; points closer than 0.2 to the boundary are skipped.
make_csv() { # make_csv SEED ROWS FILE
    awk -v seed="$1" -v rows="$2" 'BEGIN {
        srand(seed)
        while (n < rows + 0) {
            for (i = 1; i <= 4; i++) x[i] = 2 * rand() - 1
            s = x[1] + x[2] - x[3] + 0.5 * x[4]
            if (s > -0.2 && s < 0.2) continue
            printf "%.4f,%.4f,%.4f,%.4f,%d\n", x[1], x[2], x[3], x[4], (s > 0)
            n++
        }
    }' > "$3"
}
make_csv 1 200 train.csv
make_csv 2 100 test.csv
cut -d, -f1-4 test.csv > features.csv

TRAIN=(train --train-csv train.csv --test-csv test.csv --layers 4-8-2 --epochs 30 --batch 10
       --eta 0.01)

# ---------------------------------------------------------------- happy paths
check_train_ok() {
    rc_is 0 && [ -s m.bpn ] && out_has '^trained in [0-9.]* s$' &&
        out_has '^test accuracy [01]\.[0-9]*$' && out_has '^saved m.bpn$' &&
        [ "$(grep -c '^epoch ' "$T/out")" -eq 0 ]
}
run "${TRAIN[@]}" --out m.bpn --log log.csv --quiet
check "train: exit 0, model saved, summary printed" check_train_ok
check_log() {
    [ "$(lines_of log.csv)" -eq 31 ] &&
        [ "$(head -1 log.csv)" = \
          "epoch,train_loss,train_accuracy,test_loss,test_accuracy,samples_per_s,seconds" ] &&
        awk -F, 'NR > 1 && (NF != 7 || $1 != NR - 1) { bad = 1 } END { exit bad }' log.csv &&
        absent log.csv.tmp
}
check "train: log has the header and one row per epoch" check_log

run "${TRAIN[@]}" --epochs 3 --out m3.bpn
N='[0-9.]*'
EPOCH_LINE="^epoch [1-3]/3 train_loss $N train_acc $N test_loss $N test_acc $N"
EPOCH_LINE="$EPOCH_LINE samples/s $N seconds $N\$"
check "train: one plain line per epoch when not a terminal" eval \
    '[ "$(grep -c "$EPOCH_LINE" "$T/out")" -eq 3 ]'

run "${TRAIN[@]}" --epochs 4 --validation 50 --patience 2 --optimizer momentum --schedule step \
    --step-epochs 2 --gamma 0.5 --clip 5 --lambda 0.001 --threads 1 --seed 7 --out mv.bpn \
    --log logv.csv
check "train: validation split, other optimizer and schedule" eval \
    'rc_is 0 && [ -s mv.bpn ] && out_has "val_acc" && head -1 logv.csv | grep -q "val_accuracy"'

# --version names the BLAS the program was built on (BP_TEST_BLAS, from CMake's BACKPROP_BLAS).
run --version
check "--version: names the BLAS it was built on" eval \
    'rc_is 0 && out_has "^backprop [0-9]" && out_has "^BLAS ${BP_TEST_BLAS:?}$" &&
     out_has "^BLAS kernels ."'
# The program loads OpenBLAS's kernels for this CPU (src/cli/blas_core.c): a user's
# OPENBLAS_CORETYPE is kept; without one, a CPU with AVX2 never runs the generic Prescott kernels.
if [ "$BP_TEST_BLAS" = OpenBLAS ]; then
    OPENBLAS_CORETYPE=Prescott run --version
    check "--version: names the BLAS kernels the user chose" eval \
        'rc_is 0 && out_has "^BLAS kernels Prescott$"'
fi
if [ "$BP_TEST_BLAS" = OpenBLAS ] && [ -z "${CLI_TEST_WRAPPER:-}" ] &&
    grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
    had=${OPENBLAS_CORETYPE+set} saved=${OPENBLAS_CORETYPE-}
    unset OPENBLAS_CORETYPE
    run --version
    check "--version: an AVX2 CPU gets better kernels than Prescott" eval \
        'rc_is 0 && out_has "^BLAS kernels " && ! out_has "Prescott"'
    [ -z "$had" ] || export OPENBLAS_CORETYPE="$saved"
fi

run info m.bpn
check "info: positional FILE" eval \
    'rc_is 0 && out_has "4-8-2" && out_has "^parameters *58$" && out_has "relu softmax" &&
     out_has "^cost *nll$" && out_has "^file size *[0-9][0-9]* bytes$"'
run info --model m.bpn
check "info: --model FILE" eval 'rc_is 0 && out_has "4-8-2"'

run eval --model m.bpn --csv test.csv
check "eval: accuracy >= 0.9 on the easy problem, loss and confusion matrix" eval \
    'rc_is 0 && out_has "^samples 100$" && out_has "^loss [0-9.]*$" &&
     out_has "^confusion matrix" && out_has "^accuracy " &&
     awk "/^accuracy / { exit !(\$2 >= 0.9) }" "$T/out"'

run predict --model m.bpn --csv test.csv
cp "$T/out" predicted_labelled.txt
check "predict: one class per sample" eval \
    'rc_is 0 && [ "$(lines_of "$T/out")" -eq 100 ] && ! grep -qv "^[01]$" "$T/out"'
run predict --model m.bpn --csv features.csv
check "predict: features-only CSV gives the same classes" eval \
    'rc_is 0 && cmp -s "$T/out" predicted_labelled.txt'
run predict --model m.bpn --csv test.csv --outputs
check "predict --outputs: all output activations per sample" eval \
    'rc_is 0 && [ "$(lines_of "$T/out")" -eq 100 ] &&
     awk -F, "NF != 2 { bad = 1 } END { exit bad }" "$T/out"'

run gradcheck
check "gradcheck: defaults pass, one line per layer" eval \
    'rc_is 0 && [ "$(grep -c "^layer [0-9]*: max relative error " "$T/out")" -eq 2 ]'
run gradcheck --layers 3-4-5-2 --hidden tanh --output sigmoid --cost cross-entropy --batch 3 \
    --per-layer 5 --seed 3
check "gradcheck: 4 layers, cross-entropy, sampled parameters" eval \
    'rc_is 0 && [ "$(grep -c "^layer [0-9]*: max relative error " "$T/out")" -eq 3 ]'
run gradcheck --tolerance 1e-300
check "gradcheck: exit 1 when an error is above the tolerance" eval 'rc_is 1 && out_has FAILED'

run --help
check "--help lists the subcommands" eval \
    'rc_is 0 && out_has "^  train" && out_has "^  eval" && out_has "^  predict" &&
     out_has "^  gradcheck" && out_has "^  info"'
for cmd in train eval predict gradcheck info; do
    run "$cmd" --help
    check "$cmd --help" eval 'rc_is 0 && out_has "^usage: backprop $cmd" && out_has "--help"'
done

# ---------------------------------------------------------------- usage errors (exit 2)
run "${TRAIN[@]}" --bogus 1 --out u.bpn --log u.csv
check "unknown flag: exit 2, names the flag" eval 'rc_is 2 && err_has "--bogus"'
run "${TRAIN[@]}" --epochs abc --out u.bpn --log u.csv
check "bad number: exit 2, names the flag and the value" eval \
    'rc_is 2 && err_has "--epochs" && err_has "abc"'
run "${TRAIN[@]}" --epochs 0
check "out-of-range number: exit 2" eval 'rc_is 2 && err_has "--epochs" && err_has "range"'
run "${TRAIN[@]}" --eta 0.1x
check "trailing characters in a number: exit 2" eval 'rc_is 2 && err_has "--eta"'
run "${TRAIN[@]}" --eta 1e-50 --out u.bpn
check "eta that is 0 as a float: exit 2" eval 'rc_is 2 && err_has "--eta" && [ ! -e u.bpn ]'
run "${TRAIN[@]}" --eta 0.01 --schedule cosine --eta-min 1 --out u.bpn
check "eta-min above eta: exit 2" eval 'rc_is 2 && err_has "eta_min" && [ ! -e u.bpn ]'
run "${TRAIN[@]}" --layers 4-0-2 --out u.bpn --log u.csv
check "--layers 4-0-2: exit 2" eval 'rc_is 2 && err_has "--layers" && err_has "width 0"'
run "${TRAIN[@]}" --batch
check "missing value: exit 2" eval 'rc_is 2 && err_has "--batch needs a value"'
run "${TRAIN[@]}" --hidden swish
check "unknown activation: exit 2, lists the choices" eval \
    'rc_is 2 && err_has "--hidden" && err_has "leaky-relu"'
run "${TRAIN[@]}" --output sigmoid
check "nll without softmax: exit 2" eval 'rc_is 2 && err_has "softmax"'
run train --train-csv train.csv --layers 4-8-2
check "--train-csv without --test-csv: exit 2" eval 'rc_is 2 && err_has "--test-csv"'
run frobnicate
check "unknown subcommand: exit 2" eval 'rc_is 2 && err_has "frobnicate"'
check "usage errors write nothing" absent u.bpn u.csv u.csv.tmp

# ---------------------------------------------------------------- runtime errors (exit 1)
run train --train-csv missing.csv --test-csv test.csv --layers 4-8-2 --out f.bpn --log f.csv
check "missing data file: exit 1, names the file" eval \
    'rc_is 1 && err_has "missing.csv" && err_has "input/output error"'
check "failed train writes no model and no log" absent f.bpn f.csv f.csv.tmp

run "${TRAIN[@]}" --layers 5-8-2 --out f.bpn --log f.csv
check "data with other features than the network's inputs: exit 1" eval \
    'rc_is 1 && err_has "4 features" && err_has "5 inputs"'
check "mismatched train writes no model and no log" absent f.bpn f.csv f.csv.tmp

run "${TRAIN[@]}" --hidden identity --output identity --cost quadratic --init large --eta 1e30 \
    --optimizer sgd --epochs 3 --out f.bpn --log f.csv
check "diverging train: exit 1 (non-finite loss)" eval 'rc_is 1 && err_has "non-finite"'
check "diverged train writes no model and no log" absent f.bpn f.csv f.csv.tmp

# A diverging train (eta 1e6) over an existing good model must leave that file byte for byte.
run "${TRAIN[@]}" --out good.bpn
cp good.bpn good.copy
run "${TRAIN[@]}" --optimizer sgd --eta 1e6 --out good.bpn
check "diverging train over a good model (eta 1e6): exit 1, non-finite" eval \
    'rc_is 1 && err_has "non-finite" && err_has "nothing saved"'
check "the good model is untouched, no temporary file" eval \
    'cmp -s good.bpn good.copy && absent good.bpn.tmp.*'

BACKPROP_DATA=/nonexistent run train --out f.bpn --log f.csv
check "no Fashion-MNIST: exit 1, names the Debian package" eval \
    'rc_is 1 && err_has "dataset-fashion-mnist" && err_has "/nonexistent"'
check "missing Fashion-MNIST writes no model and no log" absent f.bpn f.csv f.csv.tmp

run train --data "$T" --out f.bpn
check "--data DIR without IDX files: exit 1" eval 'rc_is 1 && err_has "train-images-idx3-ubyte"'

printf 'this is not a model file, just some text padding it out\n' > corrupt.bpn
head -c 40 m.bpn > truncated.bpn
run info corrupt.bpn
check "info on a corrupt model: exit 1, says malformed" eval \
    'rc_is 1 && err_has "corrupt.bpn" && err_has "malformed"'
run info truncated.bpn
check "info on a truncated model: exit 1" eval 'rc_is 1 && err_has "malformed"'
run eval --model corrupt.bpn --csv test.csv
check "eval on a corrupt model: exit 1" eval 'rc_is 1 && err_has "malformed"'
run info absent.bpn
check "info on a missing model: exit 1" eval 'rc_is 1 && err_has "absent.bpn"'
run eval --model m.bpn --csv missing.csv
check "eval on a missing CSV: exit 1" eval 'rc_is 1 && err_has "missing.csv"'
printf '1,2,3,4,0\n1,2,x,4,1\n' > bad.csv
run eval --model m.bpn --csv bad.csv
check "eval on a malformed CSV: exit 1, names the line" eval \
    'rc_is 1 && err_has "bad.csv" && err_has "malformed"'
cut -d, -f1-3 test.csv > narrow.csv
run predict --model m.bpn --csv narrow.csv
check "predict on a CSV of too few columns: exit 1" eval 'rc_is 1 && err_has "columns"'

# ---------------------------------------------------------------- checkpoint and resume
# A constant schedule does not depend on --epochs: 3 epochs with a checkpoint, resumed to 6, are
# the 6 epochs of one run, byte for byte.
CKPT=("${TRAIN[@]}" --schedule constant --quiet)
run "${CKPT[@]}" --epochs 6 --out whole.bpn
run "${CKPT[@]}" --epochs 3 --out part.bpn --checkpoint-every 3
check "--checkpoint-every writes MODEL.ckpt" eval 'rc_is 0 && [ -s part.bpn.ckpt ]'
run "${CKPT[@]}" --epochs 6 --out part.bpn --resume part.bpn.ckpt
check "resumed run = uninterrupted run, byte for byte" eval 'rc_is 0 && cmp -s whole.bpn part.bpn'
run "${CKPT[@]}" --epochs 6 --layers 4-9-2 --out other.bpn --resume part.bpn.ckpt
check "resume into another network: exit 1, names both" eval \
    'rc_is 1 && err_has "4-8-2" && err_has "4-9-2" && absent other.bpn'
run "${CKPT[@]}" --resume part.bpn --out other.bpn
check "resume from a model file: exit 1, malformed" eval 'rc_is 1 && err_has "magic"'
run "${CKPT[@]}" --checkpoint c.ckpt --out other.bpn
check "--checkpoint without --checkpoint-every: exit 2" eval 'rc_is 2 && err_has "checkpoint-every"'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
