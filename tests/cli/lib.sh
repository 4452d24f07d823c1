# Helpers of the command-line tests (cli_test.sh, doc_test.sh, cli_regression_test.sh,
# robustness_test.sh), sourced after BP, WRAP and T are set and the shell is in $T: run the
# program, count checks, write the CSV problem.

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

# A 2-class problem of 4 features, linearly separable with a margin:
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

# The files every test starts from: train.csv (200 rows), test.csv (100), features.csv (test.csv
# without its labels).
make_problem() {
    make_csv 1 200 train.csv
    make_csv 2 100 test.csv
    cut -d, -f1-4 test.csv > features.csv
}
