#!/usr/bin/env bash
# `mpirun -np 2 backprop train` (label mpi): rank 0 alone prints and writes (one set of epoch
# lines, one model, one log); checkpoint and resume across 2 ranks give the model of the
# uninterrupted 2-rank run byte for byte.
#   bash cli_mpi.sh MPIEXEC path/to/backprop
set -u
MPIEXEC=$1
BP=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
T=$(mktemp -d "${TMPDIR:-/tmp}/backprop-mpi-cli.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
failed=0
check() { # check NAME COMMAND...
    if "${@:2}"; then echo "ok     $1"; else echo "FAILED $1"; failed=$((failed + 1)); fi
}
make_csv() { # make_csv SEED ROWS FILE: 4 features, label = side of a plane
    awk -v seed="$1" -v rows="$2" 'BEGIN { srand(seed)
        while (n < rows + 0) { for (i = 1; i <= 4; i++) x[i] = 2 * rand() - 1
            s = x[1] + x[2] - x[3] + 0.5 * x[4]; if (s > -0.2 && s < 0.2) continue
            printf "%.4f,%.4f,%.4f,%.4f,%d\n", x[1], x[2], x[3], x[4], (s > 0); n++ } }' > "$3"
}
make_csv 1 201 train.csv
make_csv 2 99 test.csv
TRAIN=(train --train-csv train.csv --test-csv test.csv --layers 4-8-2 --batch 10 --eta 0.01
       --schedule constant)
np2() { "$MPIEXEC" -np 2 --oversubscribe "$BP" "$@"; }

np2 "${TRAIN[@]}" --epochs 4 --out m.bpn --log m.csv > out.txt 2> err.txt
rc=$?
check "mpirun -np 2 backprop train: exit 0" [ "$rc" -eq 0 ]
check "one set of epoch lines (rank 0 alone prints)" [ "$(grep -c '^epoch ' out.txt)" -eq 4 ]
check "one 'saved' line" [ "$(grep -c '^saved m.bpn$' out.txt)" -eq 1 ]
check "the model loads" "$BP" info m.bpn
check "the log has a header and 4 rows" [ "$(wc -l < m.csv)" -eq 5 ]

np2 "${TRAIN[@]}" --epochs 2 --out part.bpn --checkpoint-every 2 --quiet > /dev/null 2>&1
np2 "${TRAIN[@]}" --epochs 4 --out part.bpn --resume part.bpn.ckpt --quiet > /dev/null 2>&1
check "2 ranks: 2 epochs + resume 2 = 4 epochs, byte for byte" cmp -s m.bpn part.bpn

np2 "${TRAIN[@]}" --epochs 4 --layers 4-9-2 --resume part.bpn.ckpt --out x.bpn \
    > /dev/null 2> err.txt
rc=$?
check "2 ranks: resume into another network fails, no model" [ "$rc" -ne 0 ] && [ ! -e x.bpn ]
echo "$failed failed"
[ "$failed" -eq 0 ]
