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
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/backprop-cli-test.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
# shellcheck source=lib.sh
. "$HERE/lib.sh"

# ---------------------------------------------------------------- data
make_problem

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

# --workers N: the same N gives the same model bits on every run (a batch split into N shares,
# summed in order), and N outside 0..256 is refused.
run "${TRAIN[@]}" --epochs 2 --workers 3 --dropout 0 --quiet --out w1.bpn
run "${TRAIN[@]}" --epochs 2 --workers 3 --dropout 0 --quiet --out w2.bpn
check "train --workers 3: the same bits twice" eval 'rc_is 0 && cmp -s w1.bpn w2.bpn'
# With dropout too (the default 0.1): each share draws the masks of its own columns.
run "${TRAIN[@]}" --epochs 2 --workers 3 --quiet --out w4.bpn
run "${TRAIN[@]}" --epochs 2 --workers 3 --quiet --out w5.bpn
check "train --workers 3 with the default dropout: the same bits twice" eval \
    'rc_is 0 && cmp -s w4.bpn w5.bpn'
check "train --workers 3: dropout changes the model" eval '! cmp -s w1.bpn w4.bpn'
run "${TRAIN[@]}" --workers 300 --out w3.bpn
check "train --workers 300: refused" eval '[ "$RC" -ne 0 ] && [ ! -e w3.bpn ]'

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
    # ... and says that they are narrower than the CPU's vectors, on a CPU with AVX or more
    if grep -qw avx /proc/cpuinfo 2>/dev/null; then
        check "--version: says the chosen kernels are narrower than the CPU" eval \
            'out_has "^BLAS kernels use 128-bit vectors, this CPU has [25][51][62]-bit ones (OPENBLAS_CORETYPE=Prescott is set): OPENBLAS_CORETYPE=[A-Za-z]* uses them$"'
    fi
fi
if [ "$BP_TEST_BLAS" = OpenBLAS ] && [ -z "${CLI_TEST_WRAPPER:-}" ] &&
    grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
    had=${OPENBLAS_CORETYPE+set} saved=${OPENBLAS_CORETYPE-}
    unset OPENBLAS_CORETYPE
    run --version
    check "--version: an AVX2 CPU gets better kernels than Prescott" eval \
        'rc_is 0 && out_has "^BLAS kernels " && ! out_has "Prescott" && ! out_has "^BLAS kernels use"'
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
check "predict: CSV, header class,p0,p1 then one row per sample" eval \
    'rc_is 0 && [ "$(head -1 "$T/out")" = "class,p0,p1" ] && [ "$(lines_of "$T/out")" -eq 101 ] &&
     awk -F, "NR > 1 && (NF != 3 || \$1 !~ /^[01]\$/ || \$1 != (\$3 > \$2)) { bad = 1 }
              END { exit bad }" "$T/out"'
check "predict: the probabilities of a softmax row add up to 1" \
    awk -F, 'NR > 1 { d = $2 + $3 - 1; if (d > 1e-5 || d < -1e-5) bad = 1 } END { exit bad }' \
    predicted_labelled.txt
run predict --model m.bpn --csv features.csv
check "predict: features-only CSV gives the same rows" eval \
    'rc_is 0 && cmp -s "$T/out" predicted_labelled.txt'
run predict --model m.bpn --csv test.csv --classes
cp "$T/out" classes.txt
check "predict --classes: header class, the class of each row, in order" eval \
    'rc_is 0 && [ "$(head -1 classes.txt)" = class ] &&
     cut -d, -f1 predicted_labelled.txt | cmp -s - classes.txt'
run predict --model m.bpn --csv test.csv --outputs
check "predict --outputs: header y0,y1, all output activations per sample" eval \
    'rc_is 0 && [ "$(head -1 "$T/out")" = "y0,y1" ] && [ "$(lines_of "$T/out")" -eq 101 ] &&
     awk -F, "NF != 2 { bad = 1 } END { exit bad }" "$T/out" &&
     tail -n +2 "$T/out" | cmp -s - <(tail -n +2 predicted_labelled.txt | cut -d, -f2-)'
run predict --model m.bpn --csv test.csv --outputs --classes
check "predict --outputs --classes: exit 2" eval 'rc_is 2 && err_has "exclude"'

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
check "missing data file: exit 1, names the file, says No such file or directory" eval \
    'rc_is 1 && err_has "missing.csv: No such file or directory"'
check "failed train writes no model and no log" absent f.bpn f.csv f.csv.tmp

run "${TRAIN[@]}" --layers 5-8-2 --out f.bpn --log f.csv
check "data with other features than the network's inputs: exit 1" eval \
    'rc_is 1 && err_has "5 inputs" && err_has "train.csv:1: 5 columns, expected 6 (5 features"'
check "mismatched train writes no model and no log" absent f.bpn f.csv f.csv.tmp

run "${TRAIN[@]}" --hidden identity --output identity --cost quadratic --init large --eta 1e30 \
    --optimizer sgd --weight-decay 0 --epochs 3 --out f.bpn --log f.csv
check "diverging train: exit 1 (non-finite loss)" eval 'rc_is 1 && err_has "non-finite"'
check "diverged train writes no model and no log" absent f.bpn f.csv f.csv.tmp

# eta 1e6 with the default decoupled decay 0.1: 1 - eta wd < 0 would flip the weights' signs.
run "${TRAIN[@]}" --optimizer sgd --eta 1e6 --out f.bpn --log f.csv
check "eta times weight decay above 1: exit 2 before training, says so, writes nothing" eval \
    'rc_is 2 && err_has "eta times the decay" && ! out_has trained && absent f.bpn f.csv'

# A diverging train (eta 1e6) over an existing good model must leave that file byte for byte.
run "${TRAIN[@]}" --out good.bpn
cp good.bpn good.copy
run "${TRAIN[@]}" --optimizer sgd --eta 1e6 --weight-decay 0 --out good.bpn
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
check "info on a missing model: exit 1, No such file or directory" eval \
    'rc_is 1 && err_has "absent.bpn: No such file or directory" && ! err_has "input/output"'
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
run info part.bpn.ckpt
check "info on a checkpoint: says it is one, its epoch and optimizer, then the network" eval \
    'rc_is 0 && out_has "^checkpoint *part.bpn.ckpt (after epoch 3, optimizer adam; " &&
     out_has "^layers *4-8-2 " && out_has "^parameters *58$"'
head -c 400 part.bpn.ckpt > cut.ckpt
run info cut.ckpt
check "info on a truncated checkpoint: exit 1, names the checkpoint's damage" eval \
    'rc_is 1 && err_has "cannot read checkpoint '"'"'cut.ckpt'"'"'" && err_has "truncated"'
run "${CKPT[@]}" --epochs 6 --optimizer sgd --out other.bpn --resume part.bpn.ckpt
check "resume with another optimizer: says which, in words" eval \
    'rc_is 1 && err_has "cannot resume from part.bpn.ckpt" &&
     err_has "optimizer adam in the checkpoint, sgd in this run" && absent other.bpn'
run "${CKPT[@]}" --epochs 6 --train-csv test.csv --out other.bpn --resume part.bpn.ckpt
check "resume on another training set: says the sizes, in words" eval \
    'rc_is 1 && err_has "a training set of 200 samples in the checkpoint, 100 in this run"'
run "${CKPT[@]}" --checkpoint c.ckpt --out other.bpn
check "--checkpoint without --checkpoint-every: exit 2" eval 'rc_is 2 && err_has "checkpoint-every"'

# ---------------------------------------------------------------- binary classification
# A network of one sigmoid output classifies labels 0 and 1: trains on them, scores them with a
# 2 x 2 confusion matrix and predicts 0/1 by the threshold 0.5.
BIN=(train --train-csv train.csv --test-csv test.csv --layers 4-8-1 --output sigmoid
     --cost cross-entropy --epochs 30 --batch 10 --eta 0.01 --quiet)
run "${BIN[@]}" --out bin.bpn
check "binary: train on 0/1 labels with one sigmoid output" eval \
    'rc_is 0 && [ -s bin.bpn ] && awk "/^test accuracy / { exit !(\$3 >= 0.9) }" "$T/out"'
run eval bin.bpn --csv test.csv
check "binary: eval accuracy >= 0.9, a 2 x 2 confusion matrix of 100 samples" eval \
    'rc_is 0 && awk "/^accuracy / { exit !(\$2 >= 0.9) }" "$T/out" &&
     awk "/^confusion/ { m = 1; next } m && NF == 2 { hdr++ } m && NF == 3 { rows++; n += \$2 + \$3 }
          END { exit !(hdr == 1 && rows == 2 && n == 100) }" "$T/out"'
run predict bin.bpn --csv test.csv
cp "$T/out" bin_predicted.txt
check "binary: predict class,p0,p1 with p1 the output, class 1 exactly when p1 > 0.5" eval \
    'rc_is 0 && [ "$(head -1 bin_predicted.txt)" = "class,p0,p1" ] &&
     awk -F, "NR > 1 { c[\$1]++; if (\$1 != (\$3 > 0.5) || \$2 + \$3 < 0.99999 || \$2 + \$3 > 1.00001)
              bad = 1 } END { exit bad || !c[0] || !c[1] }" bin_predicted.txt'
check "binary: predicted classes agree with the labels on >= 90 of 100" eval \
    '[ "$(paste -d, <(tail -n +2 bin_predicted.txt | cut -d, -f1) <(cut -d, -f5 test.csv) |
          awk -F, "\$1 == \$2" | wc -l)" -ge 90 ]'
run predict bin.bpn --csv test.csv --outputs
check "binary: predict --outputs has one column y0, the p1 of predict" eval \
    'rc_is 0 && [ "$(head -1 "$T/out")" = y0 ] &&
     tail -n +2 "$T/out" | cmp -s - <(tail -n +2 bin_predicted.txt | cut -d, -f3)'
# XOR, the README's example problem, learnt through the program: predicts 0 1 1 0.
printf '0,0,0\n0,1,1\n1,0,1\n1,1,0\n' > xor.csv
run train --train-csv xor.csv --test-csv xor.csv --layers 2-4-1 --hidden tanh --output sigmoid \
    --cost cross-entropy --init xavier --optimizer momentum --eta 0.5 --schedule constant \
    --epochs 2000 --batch 4 --seed 7 --quiet --out xor.bpn
check "binary: XOR trains to test accuracy 1" eval 'rc_is 0 && out_has "^test accuracy 1.0000$"'
run predict xor.bpn --csv xor.csv --classes
check "binary: XOR predicts 0 1 1 0" eval '[ "$(tail -n +2 "$T/out" | tr "\n" " ")" = "0 1 1 0 " ]'
printf '1,2,3,4,0\n1,2,3,4,2\n' > three.csv
run train --train-csv three.csv --test-csv three.csv --layers 4-3-1 --output sigmoid \
    --cost cross-entropy --out f.bpn
check "binary: a label 2 for one output: exit 1, names line and column" eval \
    'rc_is 1 && err_has "three.csv:2: column 5: label 2 is not in \[0, 2)" && absent f.bpn'

# ---------------------------------------------------------------- CSV as tools write it
# The same data with a header, a byte-order mark, CRLF, quoted fields and labels as floats
# trains the same model, byte for byte, as the plain file.
PLAIN=(--layers 4-8-2 --epochs 5 --batch 10 --eta 0.01 --quiet --schedule constant)
run train --train-csv train.csv --test-csv test.csv "${PLAIN[@]}" --out plain.bpn
{ printf '\xef\xbb\xbf"x1","x2","x3","x4","label"\r\n'
  awk -F, '{ printf "\"%s\",%s, %s ,%s,%s.0\r\n", $1, $2, $3, $4, $5 }' train.csv; } > tools.csv
{ printf 'x1,x2,x3,x4,label\n'; cat test.csv; } > test_header.csv
run train --train-csv tools.csv --test-csv test_header.csv "${PLAIN[@]}" --out tools.bpn
check "CSV: header, BOM, CRLF, quotes, 1.0 labels: the same model as the plain file" eval \
    'rc_is 0 && cmp -s plain.bpn tools.bpn'
{ printf '1,2,3,4,5\n'; cat train.csv; } > numeric_header.csv
run train --train-csv numeric_header.csv --test-csv test.csv "${PLAIN[@]}" --header \
    --out header.bpn
check "CSV: --header skips a first line of numbers" eval 'rc_is 0 && cmp -s plain.bpn header.bpn'
run train --train-csv numeric_header.csv --test-csv test.csv "${PLAIN[@]}" --out f.bpn
check "CSV: without --header a numeric first line is data (label 5: exit 1)" eval \
    'rc_is 1 && err_has "numeric_header.csv:1: column 5: label 5"'
"${WRAP[@]}" "$BP" train --train-csv - --test-csv test.csv "${PLAIN[@]}" --out stdin.bpn \
    < train.csv > "$T/out" 2> "$T/err"
RC=$?
check "CSV: --train-csv - reads standard input" eval 'rc_is 0 && cmp -s plain.bpn stdin.bpn'
"${WRAP[@]}" "$BP" eval m.bpn --csv - < test.csv > "$T/out" 2> "$T/err"
RC=$?
check "CSV: eval --csv - reads standard input" eval 'rc_is 0 && out_has "^samples 100$"'
"${WRAP[@]}" "$BP" predict m.bpn --csv - < features.csv > "$T/out" 2> "$T/err"
RC=$?
check "CSV: predict --csv - reads standard input" eval \
    'rc_is 0 && cmp -s "$T/out" predicted_labelled.txt'
run train --train-csv - --test-csv - "${PLAIN[@]}" --out f.bpn
check "CSV: --train-csv - --test-csv -: exit 2" eval 'rc_is 2 && err_has "standard input"'
printf '1,2,3,4,0\n1,2,3X,4,1\n' | tr X '\000' > nul.csv
run eval m.bpn --csv nul.csv
check "CSV: a NUL byte is named, with line and column" eval \
    'rc_is 1 && err_has "nul.csv:2: column 3: a NUL byte"'
printf '1,2,3,4,0\n\xef\xbb\xbf1,2,3,4,1\n' > bom.csv
run eval m.bpn --csv bom.csv
check "CSV: a byte-order mark inside the file is named" eval \
    'rc_is 1 && err_has "bom.csv:2: column 1: a UTF-8 byte-order mark"'
printf '1,2,3,4,0\n1,2,\x01x,4,1\n' > ctrl.csv
run eval m.bpn --csv ctrl.csv
check "CSV: a control character is shown escaped" eval \
    'rc_is 1 && err_has "ctrl.csv:2: column 3: '"'"'\\\\x01x'"'"' is not a number"'
printf '1,2,3,4,0.5\n' > half.csv
run eval m.bpn --csv half.csv
check "CSV: a label 0.5 is not an integer: exit 1" eval \
    'rc_is 1 && err_has "half.csv:1: column 5: label '"'"'0.5'"'"' is not an integer"'

# ---------------------------------------------------------------- validation
# A file sorted by class: about 150 samples of class 0, then 40 of class 1. Its last 40 rows are
# class 1 alone, and a training set without them has none of it (val accuracy 0); the stratified
# draw holds out both classes in proportion (about 32 and 8).
{ awk -F, '$5 == 0' train.csv; awk -F, '$5 == 0' test.csv; } | head -150 > sorted.csv
{ awk -F, '$5 == 1' train.csv; awk -F, '$5 == 1' test.csv; } | head -40 >> sorted.csv
VAL=(train --train-csv sorted.csv --layers 4-8-2 --epochs 20 --batch 10 --eta 0.01 --quiet)
run "${VAL[@]}" --validation 40 --log val.csv --out val1.bpn
check "validation: --train-csv alone with --validation, final line on the validation set" eval \
    'rc_is 0 && out_has "^val accuracy [01]\.[0-9]*$" && ! out_has "^test accuracy"'
check "validation: drawn from both classes of a class-sorted file (val accuracy >= 0.75)" \
    awk -F, 'END { exit !($5 >= 0.75) }' val.csv
run "${VAL[@]}" --validation 40 --out val2.bpn
check "validation: the same seed draws the same set (same model)" eval \
    'rc_is 0 && cmp -s val1.bpn val2.bpn'
run "${VAL[@]}" --validation 40 --out val3.bpn --seed 2
check "validation: another seed, another model" eval 'rc_is 0 && ! cmp -s val1.bpn val3.bpn'
run "${VAL[@]}" --out f.bpn
check "validation: --train-csv alone without --validation: exit 2" eval \
    'rc_is 2 && err_has "--validation" && absent f.bpn'
run train --test-csv test.csv --layers 4-8-2 --out f.bpn
check "validation: --test-csv without --train-csv: exit 2" eval 'rc_is 2 && err_has "--train-csv"'
run "${VAL[@]}" --validation "$(lines_of sorted.csv)" --out f.bpn
check "validation: N of all samples: exit 1" eval \
    'rc_is 1 && err_has "smaller than the $(lines_of sorted.csv) training samples"'

# An IDX directory with test images alone (3 images of 2 x 2 pixels) and no labels file.
mkdir -p images
printf '\0\0\10\3\0\0\0\3\0\0\0\2\0\0\0\2\0\377\0\377\377\0\377\0\200\200\200\200' \
    > images/t10k-images-idx3-ubyte
run predict m.bpn --data images
check "predict on an IDX directory needs only the images file" eval \
    'rc_is 0 && [ "$(head -1 "$T/out")" = "class,p0,p1" ] && [ "$(lines_of "$T/out")" -eq 4 ]'
run eval m.bpn --data images
check "eval on images without labels: exit 1, names the labels file" eval \
    'rc_is 1 && err_has "t10k-labels-idx1-ubyte"'
run predict m.bpn --data images --layers 4-2
check "predict --layers: exit 2 (a flag of train)" eval 'rc_is 2 && err_has "--layers"'

# ---------------------------------------------------------------- conventions
run "${TRAIN[@]}" --epoch 3 --out u.bpn
check "did you mean: --epoch -> --epochs" eval \
    'rc_is 2 && err_has "unknown flag '"'"'--epoch'"'"'; did you mean '"'"'--epochs'"'"'?"'
run eval --modle m.bpn
check "did you mean: --modle -> --model" eval 'rc_is 2 && err_has "did you mean '"'"'--model'"'"'"'
run "${TRAIN[@]}" --zzzzzz 1
check "did you mean: no guess for a word far from every flag" eval \
    'rc_is 2 && err_has "--zzzzzz" && ! err_has "did you mean"'
run trian
check "did you mean: trian -> train" eval 'rc_is 2 && err_has "did you mean '"'"'train'"'"'"'
run -V
check "-V prints the version" eval 'rc_is 0 && out_has "^backprop [0-9]*\.[0-9]*\.[0-9]*$"'
run -h
check "-h lists the commands" eval 'rc_is 0 && out_has "^  train" && out_has "^  plot"'
run help
check "help alone lists the commands" eval 'rc_is 0 && out_has "^  predict"'
run help train
check "help train = train --help" eval 'rc_is 0 && out_has "^usage: backprop train"'
run help trian
check "help of an unknown command: exit 2, did you mean" eval \
    'rc_is 2 && err_has "did you mean '"'"'train'"'"'"'
run "${TRAIN[@]}" --eta 0.02 --epochs 3 --quiet --out eta.bpn
run "${TRAIN[@]}" --lr 0.02 --epochs 3 --quiet --out lr.bpn
check "--lr is --eta" eval 'rc_is 0 && cmp -s eta.bpn lr.bpn'
run "${TRAIN[@]}" --lr=0.02 --epochs=3 --quiet --out=lr2.bpn
check "--key=value works for every kind" eval 'rc_is 0 && cmp -s eta.bpn lr2.bpn'
run eval m.bpn --csv=test.csv
check "eval MODEL positional" eval 'rc_is 0 && out_has "^samples 100$"'
check_width() {
    for cmd in "" train eval predict gradcheck info plot; do
        "$BP" $cmd --help | awk -v c="$cmd" 'length > 80 { print c ": " $0; bad = 1 } END { exit bad }' ||
            return 1
    done
}
check "help text of every command within 80 columns" check_width
run train --help
check "train --help: --hidden offers no softmax, --output does" eval \
    'rc_is 0 && grep -A2 -e "^  --hidden" "$T/out" | tr -d "\n" | grep -q "identity" &&
     ! grep -A2 -e "^  --hidden" "$T/out" | tr -d "\n" | grep -q "softmax" &&
     grep -A2 -e "^  --output" "$T/out" | tr -d "\n" | grep -q "softmax"'
run "${TRAIN[@]}" --hidden softmax
check "--hidden softmax: exit 2, lists the hidden activations" eval \
    'rc_is 2 && err_has "unknown value '"'"'softmax'"'"'"'

# ---------------------------------------------------------------- messages
printf '1,2,3,4,5,7\n' > wide.csv
run eval m.bpn --csv wide.csv
check "eval on data of another width names the width first (not the label 7)" eval \
    'rc_is 1 && err_has "4 inputs" && err_has "wide.csv:1: 6 columns, expected 5" &&
     ! err_has "label 7"'
run eval absent.bpn --csv test.csv
check "eval of a missing model: No such file or directory" eval \
    'rc_is 1 && err_has "absent.bpn: No such file or directory"'
run "${TRAIN[@]}" --hidden identity --output identity --cost quadratic --init large \
    --optimizer sgd --eta 1e12 --weight-decay 0 --batch 200 --quiet --out f.bpn
check "train: plural agreement (after 1 epoch)" eval \
    'rc_is 1 && err_has "training failed after 1 epoch (nothing saved)"'
run gradcheck --tolerance 1e-300 --layers 3-2
check "gradcheck: plural agreement (1 layer)" eval 'rc_is 1 && out_has "failed: 1 layer at"'

# ---------------------------------------------------------------- gradcheck on a saved model
run gradcheck --model m.bpn --csv test.csv --batch 8
check "gradcheck --model --csv: the saved network on real samples passes" eval \
    'rc_is 0 && out_has "^model m.bpn, the first 8 samples$" &&
     [ "$(grep -c "^layer [23]: max relative error " "$T/out")" -eq 2 ] && out_has "passed"'
run gradcheck --model bin.bpn --csv test.csv
check "gradcheck --model: a binary model too" eval 'rc_is 0 && out_has "passed"'
run gradcheck --model m.bpn --csv test.csv --tolerance 1e-300
check "gradcheck --model: exit 1 above the tolerance" eval 'rc_is 1 && out_has FAILED'
run gradcheck --model m.bpn --csv test.csv --layers 4-4-2
check "gradcheck --model with network flags: exit 2" eval 'rc_is 2 && err_has "--model"'
run gradcheck --csv test.csv
check "gradcheck --csv without --model: exit 2" eval 'rc_is 2 && err_has "need --model"'
run gradcheck --model m.bpn --csv wide.csv
check "gradcheck --model on data of another width: exit 1" eval 'rc_is 1 && err_has "4 inputs"'

# ---------------------------------------------------------------- plots
# Without gnuplot (a PATH that has none) --plot fails before training and writes nothing.
PATH=/nonexistent run "${TRAIN[@]}" --quiet --plot np.png --out np.bpn
check "--plot without gnuplot: exit 1, names the package, trains nothing" eval \
    'rc_is 1 && err_has "gnuplot-nox" && absent np.png np.bpn'
PATH=/nonexistent run plot log.csv np.png
check "plot without gnuplot: exit 1, names the package" eval \
    'rc_is 1 && err_has "gnuplot-nox" && absent np.png'
is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; }
if command -v gnuplot > /dev/null; then
    run "${TRAIN[@]}" --quiet --validation 50 --plot curve.png --out p.bpn
    check "train --plot: a PNG, named on stdout, no log left behind" eval \
        'rc_is 0 && out_has "^plot curve.png$" && is_png curve.png && absent curve.png.tmp* &&
         [ "$(stat -c %s curve.png)" -gt 5000 ]'
    run plot log.csv plot.png
    check "plot LOG PNG: a PNG of a --log file" eval 'rc_is 0 && is_png plot.png'
    run plot test.csv bad.png
    check "plot of a file that is no log: exit 1" eval \
        'rc_is 1 && err_has "not a log" && absent bad.png'
    run plot log.csv
    check "plot with one argument: exit 2" eval 'rc_is 2 && err_has "expected LOG.csv and FILE.png"'
else
    echo "skip   plots: gnuplot is not installed"
fi

# ---------------------------------------------------------------- on a terminal
# script(1) gives the program a terminal of a set width; stdout goes to a file, so that what
# the terminal shows is stderr alone: the status lines, each redrawn after \r with ESC[K.
# segments FILE: the lines of a terminal capture as they are drawn, one per \r or \n.
segments() { tr '\r' '\n' < "$1" | sed 's/\x1b\[K//g' | grep -v '^$'; }
on_tty() { # on_tty COLUMNS OUTFILE ARGS...: run the program on a terminal of COLUMNS columns
    local cols=$1 out=$2 cmd
    shift 2
    printf -v cmd '%q ' "${WRAP[@]}" "$BP" "$@"
    script -qec "stty cols $cols rows 24; $cmd > $out.stdout" /dev/null > "$out"
    RC=$?
}
BAR=(train --train-csv train.csv --validation 50 --layers 4-64-64-2 --epochs 3 --batch 1
     --eta 0.01 --out tty.bpn)
if command -v script > /dev/null && [ -z "${CLI_TEST_WRAPPER:-}" ]; then
    on_tty 50 tty50.txt "${BAR[@]}"
    check "terminal of 50 columns: no status line reaches column 50" eval \
        'rc_is 0 && segments tty50.txt | awk "length > 49 { bad = 1 } END { exit bad }"'
    check "terminal of 50 columns: the bar shows the epoch, elapsed time and ETA" eval \
        'segments tty50.txt | grep -q "^epoch [1-3]/3 \[[#.]*\] .* [0-9:s]* ETA [0-9:s]*$"'
    check "terminal: a line while the data loads" eval \
        'segments tty50.txt | grep -q "^reading train.csv$"'
    check "terminal: the per-epoch lines go to stdout" eval \
        '[ "$(grep -c "^epoch [1-3]/3 train_loss" tty50.txt.stdout)" -eq 3 ]'
    on_tty 120 tty120.txt "${BAR[@]}"
    check "terminal of 120 columns: the bar fills the width, with the loss and the rate" eval \
        'rc_is 0 && segments tty120.txt | awk "length > 119 { bad = 1 } END { exit bad }" &&
         segments tty120.txt | grep "^epoch 3/3 \[" | grep "loss [0-9.]* " | grep -q "[0-9]/s$" &&
         [ "$(segments tty120.txt | grep "^epoch 3/3 \[" | awk "{ print length }" | sort -n |
              tail -1)" -ge 110 ]'
    on_tty 80 ttyfail.txt "${TRAIN[@]}" --optimizer sgd --eta 1e6 --weight-decay 0 --batch 1 \
        --out f.bpn
    check "terminal: an error clears the bar before it is printed" eval \
        'rc_is 1 && grep -q "epoch 1/30 \[" ttyfail.txt &&
         grep -q $'"'"'\r\x1b\[Kbackprop train: training failed'"'"' ttyfail.txt'
else
    echo "skip   terminal: no script(1), or under a wrapper"
fi

# ---------------------------------------------------------------- Ctrl-C
# interrupt SIGNAL OUT ARGS...: start a train, send SIGNAL once it is training (OUT.log.tmp.*, its
# log of the epochs so far, has a row: an epoch is done), and wait for it.
interrupt() {
    local sig=$1 out=$2 pid i
    shift 2
    "$BP" "$@" --out "$out" --log "$out.log" > "$T/out" 2> "$T/err" &
    pid=$!
    for i in $(seq 600); do
        [ "$(cat "$out".log.tmp* 2> /dev/null | wc -l)" -ge 2 ] && break
        sleep 0.1
    done
    kill -"$sig" "$pid"
    wait "$pid"
    RC=$?
}
LONG=(train --train-csv train.csv --test-csv test.csv --layers 4-8-2 --epochs 1000000 --batch 10
      --eta 0.01 --schedule constant --quiet)
if [ -z "${CLI_TEST_WRAPPER:-}" ]; then
    interrupt INT int.bpn "${LONG[@]}" --checkpoint-every 1
    check "Ctrl-C: exit 130, says which checkpoint it kept and how to resume" eval \
        'rc_is 130 && absent int.bpn int.bpn.log int.bpn.log.tmp* &&
         err_has "interrupted in epoch [0-9]*: kept checkpoint int.bpn.ckpt (epoch [0-9]*); " &&
         err_has "resume with \`backprop train --train-csv train.csv .* --resume int.bpn.ckpt\`$" &&
         err_has " --checkpoint-every 1 .*--out int.bpn "'
    # The command it printed, run with fewer epochs (the last --epochs wins) to end soon.
    resume=$(sed -n 's/.*resume with `backprop \(.*\)`$/\1/p' "$T/err")
    kept=$(sed -n 's/.*kept checkpoint int.bpn.ckpt (epoch \([0-9]*\)).*/\1/p' "$T/err")
    eval "run $resume --epochs $((kept + 2))"
    check "Ctrl-C: the command it printed resumes the run" eval \
        'rc_is 0 && [ -s int.bpn ] && out_has "^saved int.bpn$" &&
         [ "$(grep -c "^[0-9]" int.bpn.log)" -eq 2 ]'
    interrupt INT int2.bpn "${LONG[@]}"
    check "Ctrl-C without checkpoints: exit 130, nothing saved" eval \
        'rc_is 130 && err_has "interrupted in epoch [0-9]*: nothing saved$" &&
         absent int2.bpn int2.bpn.log int2.bpn.log.tmp*'
    # SIGTERM and SIGHUP kill as by default (so that an MPI rank never outlives mpirun's SIGTERM),
    # after removing the log's temporary file.
    for sig in TERM HUP; do
        interrupt $sig term.bpn "${LONG[@]}"
        check "SIG$sig: killed by it, the log's temporary file removed, nothing saved" eval \
            "rc_is $((128 + $(kill -l $sig))) && absent term.bpn term.bpn.log term.bpn.log.tmp*"
    done
    # nohup's ignored SIGHUP stays ignored: the run goes on (alive after it), then Ctrl-C stops it.
    (trap '' HUP; exec "$BP" "${LONG[@]}" --out nohup.bpn --log nohup.bpn.log) > "$T/out" 2> "$T/err" &
    pid=$!
    for i in $(seq 600); do
        [ "$(cat nohup.bpn.log.tmp* 2> /dev/null | wc -l)" -ge 2 ] && break
        sleep 0.1
    done
    kill -HUP "$pid"
    sleep 0.5
    alive=no
    kill -0 "$pid" 2> /dev/null && alive=yes
    kill -INT "$pid"
    wait "$pid"
    RC=$?
    check "SIGHUP ignored by the caller (nohup): training goes on, Ctrl-C then stops it" eval \
        '[ $alive = yes ] && rc_is 130 && absent nohup.bpn nohup.bpn.log.tmp*'
fi

# ---------------------------------------------------------------- --device
# cuda trains on a GPU only in a build with BACKPROP_CUDA: elsewhere a clear error before any data
# is read, exit 2 (no CUDA in this build) or exit 1 (no usable GPU), and nothing written.
check_no_gpu() {
    case "$RC" in
    0) [ -s gpu.bpn ] ;; # a build with the backend, on a machine with a GPU
    1) err_has "no usable CUDA device" && absent gpu.bpn ;;
    2) err_has "built without CUDA" && absent gpu.bpn ;;
    *) false ;;
    esac
}
run "${TRAIN[@]}" --device cuda --quiet --out gpu.bpn
check "--device cuda: trains, or says why not (exit 1 or 2), never a crash" check_no_gpu
run "${TRAIN[@]}" --device tpu --out gpu.bpn
check "--device tpu: exit 2, names the choices" eval 'rc_is 2 && err_has "cpu|cuda" && absent gpu.bpn'

# ---------------------------------------------------------------- energies and forces
# E = sin(2 x1) + x2^2 / 2 and its forces F = -dE/dx: each row x1, x2, E, F1, F2.
make_forces() { # make_forces SEED ROWS FILE
    awk -v seed="$1" -v rows="$2" 'BEGIN {
        srand(seed)
        for (n = 0; n < rows; n++) {
            a = 2 * rand() - 1; b = 2 * rand() - 1
            printf "%.5f,%.5f,%.6f,%.6f,%.6f\n", a, b, sin(2 * a) + b * b / 2, -2 * cos(2 * a), -b
        }
    }' > "$3"
}
make_forces 3 200 ftrain.csv
make_forces 4 100 ftest.csv
FORCES=(train --train-csv ftrain.csv --test-csv ftest.csv --layers 2-16-1 --hidden silu
        --output identity --cost quadratic --init xavier --epochs 100 --batch 16 --eta 0.02 --quiet
        --forces 2)
run "${FORCES[@]}" --out forces.bpn
check "--forces 2: trains, reports the test loss, saves" eval \
    'rc_is 0 && out_has "^test loss [0-9.e-]* (energy + forces" && [ -s forces.bpn ]'
loss_forces=$(sed -n 's/^test loss \([^ ]*\) .*/\1/p' "$T/out")
run "${FORCES[@]}" --epochs 1 --out forces1.bpn
loss_one=$(sed -n 's/^test loss \([^ ]*\) .*/\1/p' "$T/out")
check "--forces: 100 epochs reach a 100x lower loss than 1" \
    awk -v a="$loss_forces" -v b="$loss_one" 'BEGIN { exit !(a * 100 < b) }'
run "${FORCES[@]}" --workers 2 --out fw1.bpn
loss_workers=$(sed -n 's/^test loss \([^ ]*\) .*/\1/p' "$T/out")
run "${FORCES[@]}" --workers 2 --out fw2.bpn
check "--forces --workers 2: the same model on every run, other bits than one thread's" eval \
    'rc_is 0 && cmp -s fw1.bpn fw2.bpn && ! cmp -s fw1.bpn forces.bpn'
check "--forces --workers 2: the test loss of one thread's within a factor 2" \
    awk -v a="$loss_workers" -v b="$loss_forces" 'BEGIN { exit !(a < 2 * b && b < 2 * a) }'
run "${FORCES[@]}" --layers 3-16-1 --out f.bpn
check "--forces K other than the inputs: exit 1" eval 'rc_is 1 && err_has "--forces 2" && absent f.bpn'
run train --forces 2 --layers 2-16-1 --output identity --cost quadratic --out f.bpn
check "--forces without CSV: exit 2" eval 'rc_is 2 && err_has "--forces"'
run "${FORCES[@]}" --layers 2-16-2 --out f.bpn
check "--forces with two outputs: exit 2" eval 'rc_is 2 && err_has "fits one output" && absent f.bpn'
run "${FORCES[@]}" --targets 1 --out f.bpn
check "--forces with --targets: exit 2" eval 'rc_is 2 && err_has "no --targets" && absent f.bpn'

# --forces --normalize on inputs in hundreds and tenths, energies near 1000: x1 = 100 + 50 a,
# x2 = b / 10, E = 1000 + 20 (sin(2 a) + b^2 / 2), F = -dE/dx = (-0.8 cos(2 a), -200 b).
make_far_forces() { # make_far_forces SEED ROWS FILE
    awk -v seed="$1" -v rows="$2" 'BEGIN {
        srand(seed)
        for (n = 0; n < rows; n++) {
            a = 2 * rand() - 1; b = 2 * rand() - 1
            printf "%.4f,%.6f,%.5f,%.7f,%.4f\n", 100 + 50 * a, b / 10,
                   1000 + 20 * (sin(2 * a) + b * b / 2), -0.8 * cos(2 * a), -200 * b
        }
    }' > "$3"
}
make_far_forces 3 300 fftrain.csv
make_far_forces 4 100 fftest.csv
cut -d, -f1,2 fftest.csv > ffx.csv
FAR=("${FORCES[@]}" --train-csv fftrain.csv --test-csv fftest.csv)
energy_rmse() { # energy_rmse MODEL: RMSE of predicted energies on fftest.csv, in its units
    "$BP" predict --model "$1" --csv ffx.csv --outputs | tail -n +2 | paste -d, - fftest.csv |
        awk -F, '{ d = $1 - $4; s += d * d; n++ } END { printf "%.6g\n", sqrt(s / n) }'
}
run "${FAR[@]}" --normalize --out fnorm.bpn
check "--forces --normalize: trains, reports the test loss, saves" eval \
    'rc_is 0 && out_has "^test loss [0-9.e-]* (energy + forces" && [ -s fnorm.bpn ]'
run info fnorm.bpn
check "--forces --normalize: the model stores the input and energy scalings" \
    out_has "inputs and targets standardised"
run "${FAR[@]}" --out fraw.bpn
rmse_norm=$(energy_rmse fnorm.bpn)
rmse_raw=$(energy_rmse fraw.bpn)
sd=$(awk -F, '{ s += $3; q += $3 * $3; n++ } END { printf "%.6g\n", sqrt(q / n - (s / n)^2) }' fftest.csv)
check "--forces --normalize: predicted energies in the data's units, RMSE below sd/3, 10x below unscaled" \
    awk -v a="$rmse_norm" -v b="$rmse_raw" -v sd="$sd" 'BEGIN { exit !(a < sd / 3 && a * 10 < b) }'
run "${FAR[@]}" --normalize --force-weight -1 --out f.bpn
check "--forces --normalize --force-weight -1: exit 2" eval 'rc_is 2 && err_has "force-weight" && absent f.bpn'

# ---------------------------------------------------------------- dropout, weight decay
DROP=("${TRAIN[@]}" --layers 4-8-6-2 --epochs 3 --quiet --weight-decay 0.01)
run "${DROP[@]}" --dropout 0.2,0.1 --input-dropout 0.1 --out d1.bpn --checkpoint-every 3
run "${DROP[@]}" --dropout 0.2,0.1 --input-dropout 0.1 --out d2.bpn
check "dropout: a seeded run twice gives the same model" eval 'rc_is 0 && cmp -s d1.bpn d2.bpn'
run "${DROP[@]}" --out d3.bpn
check "dropout changes the run" eval 'rc_is 0 && ! cmp -s d1.bpn d3.bpn'
run "${DROP[@]}" --dropout 0.3 --input-dropout 0.1 --out d4.bpn --resume d1.bpn.ckpt
check "resume with other dropout rates: exit 1, names the rate" eval \
    'rc_is 1 && err_has "dropout rate of layer 2" && absent d4.bpn'
run "${DROP[@]}" --dropout 0.2,0.1,0.1 --out d4.bpn
check "--dropout with more rates than hidden layers: exit 2" eval \
    'rc_is 2 && err_has "3 rate(s) for 2 hidden" && absent d4.bpn'
run "${DROP[@]}" --dropout 1 --out d4.bpn
check "--dropout 1: exit 2" eval 'rc_is 2 && err_has "\[0, 1)" && absent d4.bpn'
run "${DROP[@]}" --weight-decay -1 --out d4.bpn
check "--weight-decay -1: exit 2" eval 'rc_is 2 && err_has "weight-decay" && absent d4.bpn'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
