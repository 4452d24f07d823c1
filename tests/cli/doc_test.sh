#!/usr/bin/env bash
# Runs the examples of the program's documentation, run by ctest (label cli):
#   bash doc_test.sh path/to/backprop README.md docs/cli.md
# Of README.md only the section "The `backprop` program" is read, of other files all of it. The
# examples run in order, in one directory that starts with train.csv, test.csv and features.csv
# (lib.sh's problem), with `backprop` on PATH:
#   - every line of a ```sh block that starts with backprop, mpirun or cat (with its \ continuation
#     lines; a trailing # comment dropped) must exit 0;
#   - every `$ COMMAND` line of any block must exit 0, and the lines shown after it (up to the next
#     `$ ` or the block's end) must be its output, numbers aside (each number compares as N, runs of
#     blanks as one); a line `...` stands for any lines.
# A Fashion-MNIST run (a train without --train-csv) with more than 2 epochs gets --epochs 2
# appended (the last of a repeated flag wins), /path/to/mnist is the Fashion-MNIST directory;
# commands that draw plots need gnuplot and mpirun lines Open MPI, else they are skipped. Without
# Fashion-MNIST the whole test is skipped (exit 77).
set -u

if [ $# -lt 2 ] || [ ! -x "$1" ]; then
    echo "usage: bash doc_test.sh path/to/backprop FILE.md..." >&2
    exit 2
fi
BP=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
WRAP=()
HERE=$(cd "$(dirname "$0")" && pwd)
DOCS=()
for f in "$@"; do DOCS+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"); done
FASHION=${BACKPROP_DATA:-/usr/share/datasets/fashion-mnist}
if [ ! -e "$FASHION/train-images-idx3-ubyte" ] && [ ! -e "$FASHION/train-images-idx3-ubyte.gz" ]
then
    echo "skip: no Fashion-MNIST in $FASHION (apt-get install dataset-fashion-mnist)"
    exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/backprop-doc-test.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
# shellcheck source=lib.sh
. "$HERE/lib.sh"
mkdir bin work
ln -s "$BP" bin/backprop
export PATH="$T/bin:$PATH" OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd work || exit 2
make_problem

# extract FILE: one record per line, "CMD<US>line<US>command" or "OUT<US><US>text", US the ASCII
# unit separator (\037), which no document holds.
extract() {
    awk -v readme="$(basename "$1")" '
        function flush() { if (cmd != "") print "CMD\037" start "\037" cmd; cmd = "" }
        readme == "README.md" && /^## / { inside = ($0 ~ /^## The `backprop` program/) }
        readme == "README.md" && !inside { next }
        /^```/ {
            if (fenced) { flush(); fenced = 0; shown = 0 } else { fenced = 1; lang = substr($0, 4) }
            next
        }
        !fenced { next }
        /^\$ / { flush(); print "CMD\037" NR "\037" substr($0, 3); shown = 1; next }
        shown { print "OUT\037\037" $0; next }
        lang == "sh" {
            line = $0
            if (cmd == "" && line !~ /^(backprop|mpirun|cat) /) next
            if (cmd == "") start = NR
            sub(/[ \t]+#.*$/, "", line)
            if (line ~ /\\$/) { cmd = cmd substr(line, 1, length(line) - 1); next }
            cmd = cmd line
            flush()
        }' "$1"
}

# normalise: numbers as N, blanks squeezed, trailing blanks dropped.
normalise() { sed -E 's/[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?/N/g; s/[[:space:]]+/ /g; s/^ //; s/ $//'; }

# matches EXPECTED ACTUAL: the normalised lines of ACTUAL are those of EXPECTED, "..." any lines.
matches() {
    awk 'NR == FNR { e[n++] = $0; next } { a[m++] = $0 }
         END {
             k = 0
             for (i = 0; i < n; i++) {
                 if (e[i] == "...") {
                     if (i == n - 1) exit 0
                     while (k < m && a[k] != e[i + 1]) k++
                     continue
                 }
                 if (k >= m || a[k] != e[i]) { print "expected: " e[i]; print "got:      " a[k]; exit 1 }
                 k++
             }
             exit k != m
         }' <(normalise < "$1") <(normalise < "$2")
}

# adapt COMMAND: the command as the test runs it (Fashion-MNIST paths, at most 2 epochs).
adapt() {
    local c=${1//\/path\/to\/mnist/$FASHION} epochs
    if [[ $c == *"backprop train"* && $c != *--train-csv* ]]; then
        epochs=$(sed -n 's/.*--epochs \([0-9]*\).*/\1/p' <<< "$c")
        if [ -z "$epochs" ] || [ "$epochs" -gt 2 ]; then c="$c --epochs 2"; fi
    fi
    printf '%s' "$c"
}

# skipped COMMAND: why it cannot run here, or nothing.
skipped() {
    if [[ $1 == *--plot* || $1 == *"backprop plot"* ]] && ! command -v gnuplot > /dev/null; then
        echo "needs gnuplot"
    elif [[ $1 == mpirun* ]] && ! command -v mpirun > /dev/null; then
        echo "needs mpirun"
    fi
}

# finish: check the command of the record before (its exit status and its shown output).
finish() {
    [ -n "$name" ] || return 0
    if [ -s "$T/expected" ]; then
        check "$name" eval 'rc_is 0 && matches "$T/expected" "$T/out" > "$T/diff" ||
                           { cat "$T/diff" >> "$T/err"; false; }'
    else
        check "$name" rc_is 0
    fi
    name=
}

name=
for doc in "${DOCS[@]}"; do
    while IFS=$'\037' read -r kind line text; do
        if [ "$kind" = OUT ]; then
            printf '%s\n' "$text" >> "$T/expected"
            continue
        fi
        finish
        : > "$T/expected"
        why=$(skipped "$text")
        if [ -n "$why" ]; then
            echo "skip   $(basename "$doc"):$line: $text ($why)"
            continue
        fi
        name="$(basename "$doc"):$line: $text"
        bash -c "$(adapt "$text")" < /dev/null > "$T/out" 2> "$T/err"
        RC=$?
    done < <(extract "$doc")
    finish
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
