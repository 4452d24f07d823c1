#!/usr/bin/env bash
# Regression through the `backprop` program, run by ctest (label cli):
#   bash cli_regression_test.sh path/to/backprop
# A smooth function of 3 inputs of very different magnitudes (x1 in thousands) is written as CSV
# with awk; train/eval/predict with --targets and --normalize must fit it, print RMSE, MAE and R^2,
# store the scaling in the model (format version 2) and predict in the data's units. The failures:
# a non-numeric target, --targets as wide as the file, --targets on a softmax/nll network, on a
# network of another output width, on IDX data; nothing is written by a failed train. Prints one
# line per check and "N passed, M failed"; exits non-zero if any check failed.
set -u

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
    echo "usage: bash cli_regression_test.sh path/to/backprop" >&2
    exit 2
fi
BP=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
read -r -a WRAP <<< "${CLI_TEST_WRAPPER:-}"
T=$(mktemp -d "${TMPDIR:-/tmp}/backprop-cli-regression.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2

# shellcheck source=lib.sh
. "$HERE/lib.sh"
# The value of "KEY value" on stdout.
value_of() { awk -v k="$1" '$1 == k { print $2 }' "$T/out"; }
# The value of "test KEY value" (train's metrics) on stdout.
test_value() { awk -v k="$1" '$1 == "test" && $2 == k { print $3 }' "$T/out"; }
# is VALUE OP BOUND (awk arithmetic), e.g. is 0.97 '>' 0.9
is() { awk -v a="$1" -v b="$3" "BEGIN { exit !(a $2 b) }"; }
# near A B TOL: |A - B| <= TOL
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; exit !(d <= t && -d <= t) }'; }
# The format version of a model file (bytes 8..11, little-endian; small values).
version_of() { od -An -tu1 -j8 -N1 "$1" | tr -d ' '; }

# ---------------------------------------------------------------- data
# y1 = x1/1000 + sin(2 x2) - x3, y2 = 10 x2 x3 (optional), x1 in [1000, 5000], x2, x3 in [-1, 1].
make_csv() { # make_csv SEED ROWS TARGETS FILE
    awk -v seed="$1" -v rows="$2" -v t="$3" 'BEGIN {
        srand(seed)
        for (n = 0; n < rows; n++) {
            a = 1000 + 4000 * rand(); b = 2 * rand() - 1; c = 2 * rand() - 1
            printf "%.4f,%.5f,%.5f,%.6f", a, b, c, a / 1000 + sin(2 * b) - c
            if (t == 2) printf ",%.6f", 10 * b * c
            printf "\n"
        }
    }' > "$4"
}
make_csv 1 400 1 train.csv
make_csv 2 100 1 test.csv
make_csv 3 400 2 train2.csv
make_csv 4 100 2 test2.csv
NET=(--hidden tanh --output identity --cost quadratic --init xavier --epochs 40 --batch 16
     --eta 0.01 --quiet)

# ---------------------------------------------------------------- happy path
run train --train-csv train.csv --test-csv test.csv --targets 1 --normalize --layers 3-16-1 \
    "${NET[@]}" --out m.bpn --log log.csv
check "train --targets 1 --normalize: exit 0, test metrics printed" eval \
    'rc_is 0 && out_has "^test rmse " && out_has "^test mae " && out_has "^test r2 "'
check "train: the model is format version 2 (scaling stored)" eval '[ "$(version_of m.bpn)" = 2 ]'
run info m.bpn
check "info names the scaling" eval 'rc_is 0 && out_has "^scaling  *inputs and targets standardised"'
check "train: the log's columns name the metric" eval \
    '[ "$(head -1 log.csv)" = "epoch,train_loss,test_loss,test_rmse,samples_per_s,seconds" ] &&
     [ "$(wc -l < log.csv)" -eq 41 ]'
run eval --model m.bpn --csv test.csv --targets 1
R2=$(value_of r2)
check "eval --targets 1: rmse, mae, r2 lines, r2 >= 0.95" eval \
    'rc_is 0 && out_has "^samples 100$" && out_has "^rmse " && out_has "^mae " &&
     is "$R2" ">=" 0.95'
check "eval: one output, no per-output lines" eval '! out_has "rmse\[1\]"'
# The predictions: the numeric lines of predict's output (a header line, if any, names columns).
numeric() { grep -E '^[-0-9.]' "$T/out"; }
run predict --model m.bpn --csv test.csv --targets 1
numeric > pred.txt
# predictions are in the data's units: their mean absolute error against column 4 matches eval's mae
MAE=$(paste -d, test.csv pred.txt | awk -F, '{ s += ($5 > $4 ? $5 - $4 : $4 - $5) } END {
    printf "%.6f", s / NR }')
run eval --model m.bpn --csv test.csv --targets 1
check "predict: one value per sample, in the data's units (mae as eval's)" eval \
    '[ "$(wc -l < pred.txt)" -eq 100 ] && near "$MAE" "$(value_of mae)" 0.0001'
run predict --model m.bpn --csv <(cut -d, -f1-3 test.csv) --targets 1
check "predict: features alone also accepted" eval \
    'rc_is 0 && [ "$(numeric)" = "$(cat pred.txt)" ]'

run train --train-csv train.csv --test-csv test.csv --targets 1 --layers 3-16-1 "${NET[@]}" \
    --out raw.bpn
check "train without --normalize: format version 1" eval \
    'rc_is 0 && [ "$(version_of raw.bpn)" = 1 ]'
run info raw.bpn
check "info: no scaling" eval 'rc_is 0 && out_has "^scaling  *none$"'
run eval --model raw.bpn --csv test.csv --targets 1
check "without --normalize x1 in thousands is not fitted (r2 < r2 with it)" eval \
    'is "$(value_of r2)" "<" "$R2"'

run train --train-csv train2.csv --test-csv test2.csv --targets 2 --normalize --layers 3-24-2 \
    "${NET[@]}" --out m2.bpn
run eval --model m2.bpn --csv test2.csv --targets 2
check "two targets: overall then per-output metrics" eval \
    'rc_is 0 && out_has "^r2 " && out_has "^rmse\[1\] " && out_has "^r2\[2\] " &&
     is "$(value_of "r2[2]")" ">" 0.8'
run predict --model m2.bpn --csv test2.csv --targets 2
check "predict, two targets: two comma-separated values per line" eval \
    'rc_is 0 && [ "$(numeric | awk -F, "NF == 2" | wc -l)" -eq 100 ]'

# --normalize for classification: the class is the sign of x1 - 3000 (x1 in thousands).
awk -F, '{ printf "%s,%s,%s,%d\n", $1, $2, $3, ($1 > 3000) }' train.csv > ctrain.csv
awk -F, '{ printf "%s,%s,%s,%d\n", $1, $2, $3, ($1 > 3000) }' test.csv > ctest.csv
run train --train-csv ctrain.csv --test-csv ctest.csv --normalize --layers 3-8-2 --epochs 40 \
    --batch 16 --eta 0.01 --quiet --out c.bpn
check "--normalize, classification: input scaling stored, accuracy >= 0.9" eval \
    'rc_is 0 && [ "$(version_of c.bpn)" = 2 ] &&
     is "$(awk "/^test accuracy/ { print \$3 }" "$T/out")" ">=" 0.9'
run eval --model c.bpn --csv ctest.csv
check "eval of a normalised classifier scores raw inputs" eval \
    'rc_is 0 && is "$(value_of accuracy)" ">=" 0.9'

# A huge R^2 in 6 significant digits: targets 0 but one 0.001 leave almost no variance to explain.
awk -F, 'BEGIN { OFS = "," } { $4 = NR == 3 ? 0.001 : 0; print }' test.csv > flat.csv
run eval --model m.bpn --csv flat.csv --targets 1
check "eval: an R^2 of -1e9 or so is printed short, as %g" eval \
    'rc_is 0 && value_of r2 | grep -Eq "^-[0-9](\.[0-9]+)?e\+[0-9]+$" && is "$(value_of r2)" "<" -1e6'
# --normalize on a column of zeros but one 1e-37: taken as constant, not amplified by 1e37 (an
# unbounded relu layer would carry the test inputs' 1 there, times 1e37, to the output).
awk 'BEGIN { srand(5); for (n = 0; n < 64; n++) { a = rand(); b = rand()
             printf "%.4f,%.4f,%g,%.4f\n", a, b, n == 5 ? 1e-37 : 0, a + b } }' > tiny.csv
awk 'BEGIN { srand(6); for (n = 0; n < 8; n++) { a = rand(); b = rand()
             printf "%.4f,%.4f,1,%.4f\n", a, b, a + b } }' > tinytest.csv
run train --train-csv tiny.csv --test-csv tinytest.csv --targets 1 --normalize --layers 3-8-1 \
    --hidden relu --output identity --cost quadratic --epochs 3 --batch 16 --eta 0.01 --quiet \
    --out tiny.bpn
check "--normalize on a column of zeros and one 1e-37: test rmse below 10" eval \
    'rc_is 0 && is "$(test_value rmse)" "<" 10'

# ---------------------------------------------------------------- errors
sed '7s/,[^,]*$/,abc/' train.csv > bad.csv
run train --train-csv bad.csv --test-csv test.csv --targets 1 --layers 3-4-1 "${NET[@]}" \
    --out bad.bpn --log bad.log
check "non-numeric target: exit 1, names line and value, nothing written" eval \
    'rc_is 1 && err_has "bad.csv:7" && err_has "abc" && absent bad.bpn bad.log'
run train --train-csv train.csv --test-csv test.csv --targets 4 --layers 3-4-4 "${NET[@]}" \
    --out wide.bpn
check "--targets as many as the columns: exit 1, says so" eval \
    'rc_is 1 && err_has "4 columns" && absent wide.bpn'
run train --train-csv train.csv --test-csv test.csv --targets 1 --layers 3-4-1 --output softmax \
    --cost nll --out sm.bpn
check "--targets with softmax/nll: usage error with the reason" eval \
    'rc_is 2 && err_has "softmax" && err_has "probabilities" && absent sm.bpn'
run train --train-csv train.csv --test-csv test.csv --targets 1 --layers 3-4-2 "${NET[@]}" \
    --out w.bpn
check "--targets 1 on a 2-output network: usage error" eval \
    'rc_is 2 && err_has "output layer has 2" && absent w.bpn'
run train --data . --targets 1 --layers 3-4-1 "${NET[@]}" --out idx.bpn
check "--targets with IDX data: usage error" eval 'rc_is 2 && err_has "CSV" && absent idx.bpn'
run eval --model c.bpn --csv ctest.csv --targets 1
check "eval --targets on a softmax model: usage error" eval 'rc_is 2 && err_has "softmax"'
run eval --model m.bpn --csv test.csv --targets 0
check "eval without --targets reads a label: a real target is refused" eval \
    'rc_is 1 && err_has "not an integer"'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
