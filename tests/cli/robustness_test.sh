#!/usr/bin/env bash
# Tests of the `backprop` program against hostile files and values, run by ctest (label cli):
#   bash robustness_test.sh path/to/backprop
# The pre-flight of the output files (every output checked before any data is loaded: the same
# file named twice, by another spelling, a link or a hard link; an output over an input;
# directories, devices, FIFOs, a missing directory, a directory that takes no new file though
# access() says it would: usage errors, exit 2, nothing written) and the safe writing of what is
# written (a planted link at the old temporary name, two runs on one log, the mode of a replaced
# model, names at the 255-byte limit, --resume and --checkpoint on one file); numbers that are
# valid as doubles but not as the floats the library takes, and schedules that underflow at a
# later epoch (exit 2 before any data is loaded); flags that only another flag uses, given without
# it (exit 2 before loading); messages that name the real cause (an IDX name that is a device, a
# resumed run with nothing left, a poisoned checkpoint); predict on a one-input model from a
# one-column CSV, with or without a header.
set -u

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
    echo "usage: bash robustness_test.sh path/to/backprop" >&2
    exit 2
fi
BP=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
read -r -a WRAP <<< "${CLI_TEST_WRAPPER:-}"
T=$(mktemp -d "${TMPDIR:-/tmp}/backprop-robustness-test.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2

# shellcheck source=lib.sh
. "$HERE/lib.sh"
# An absent file is not even a dangling link here.
absent() { for f in "$@"; do [ ! -e "$f" ] && [ ! -L "$f" ] || return 1; done; }
no_temporary() { ! ls -a | grep -q '\.tmp'; }
untrained() { ! grep -q trained "$T/out"; }

awk 'BEGIN { srand(3); for (n = 0; n < 60; n++) { s = 0
        for (i = 1; i <= 4; i++) { x[i] = 2 * rand() - 1; s += x[i] }
        printf "%.4f,%.4f,%.4f,%.4f,%d\n", x[1], x[2], x[3], x[4], (s > 0) } }' > train.csv
cp train.csv test.csv
D=(train --train-csv train.csv --test-csv test.csv --layers 4-8-2 --epochs 2 --quiet)
# Data that cannot load: a usage error (2) rather than the load's failure (1) shows the check ran
# before any data was read.
MISSING=(train --train-csv missing.csv --test-csv test.csv --layers 4-8-2 --epochs 2 --quiet)

# ---------------------------------------------------------------- the same file twice
run "${D[@]}" --out m.bpn --log m.bpn
check "--out and --log one file: exit 2, names both, writes nothing" eval \
    'rc_is 2 && err_has "--out m.bpn and --log m.bpn name the same file" && absent m.bpn &&
     no_temporary && untrained'
run "${D[@]}" --out m.bpn --log ./m.bpn
check "--out m.bpn and --log ./m.bpn (not there yet): exit 2" eval 'rc_is 2 && absent m.bpn'
run "${D[@]}" --out m.bpn --checkpoint-every 1 --checkpoint "$T/m.bpn"
check "--checkpoint (absolute) = --out: exit 2" eval \
    'rc_is 2 && err_has "--checkpoint" && absent m.bpn'
run "${D[@]}" --out m.bpn
cp m.bpn m.copy
ln -s m.bpn sym.bpn
ln m.bpn hard.bpn
run "${D[@]}" --out m.bpn --log sym.bpn
check "--log a symbolic link to --out: exit 2, model untouched" eval \
    'rc_is 2 && cmp -s m.bpn m.copy && [ -L sym.bpn ]'
run "${D[@]}" --out m.bpn --checkpoint-every 1 --checkpoint hard.bpn
check "--checkpoint a hard link of --out: exit 2" eval 'rc_is 2 && cmp -s m.bpn m.copy'
run "${MISSING[@]}" --out m.bpn --log m.bpn
check "the clash is found before any data is loaded" eval 'rc_is 2 && ! err_has missing.csv'

# ---------------------------------------------------------------- an output over an input
run "${D[@]}" --out train.csv
check "--out the training CSV: exit 2, the data untouched" eval \
    'rc_is 2 && err_has "input --train-csv" && [ "$(wc -l < train.csv)" -eq 60 ]'
run "${D[@]}" --out m2.bpn --log ./test.csv
check "--log the test CSV: exit 2" eval 'rc_is 2 && err_has "--test-csv" && absent m2.bpn'
mkdir idx
: > idx/t10k-labels-idx1-ubyte.gz
run train --data idx --out idx/t10k-labels-idx1-ubyte.gz --quiet
check "--out an IDX file of --data: exit 2" eval 'rc_is 2 && err_has "input --data"'
run "${D[@]}" --out m.bpn --checkpoint-every 1 --checkpoint m.ckpt
run "${D[@]}" --epochs 3 --out m3.bpn --checkpoint-every 1 --checkpoint m.ckpt --resume m.ckpt
check "--resume and --checkpoint one file: allowed (read whole before written)" eval \
    'rc_is 0 && [ -s m3.bpn ] && [ -s m.ckpt ]'
run "${D[@]}" --epochs 3 --out m.ckpt --resume m.ckpt
check "--out over --resume: exit 2" eval 'rc_is 2 && err_has "input --resume"'

# ---------------------------------------------------------------- not a file to replace
mkdir dir
run "${MISSING[@]}" --out dir
check "--out a directory: exit 2 before loading, names it" eval \
    'rc_is 2 && err_has "is a directory" && [ -d dir ]'
run "${MISSING[@]}" --out m4.bpn --log dir/
check "--log dir/: exit 2, writes no model" eval 'rc_is 2 && err_has "/" && absent m4.bpn'
run "${MISSING[@]}" --out m4.bpn --checkpoint-every 1 --checkpoint dir
check "--checkpoint a directory: exit 2" eval 'rc_is 2 && err_has "directory"'
run "${MISSING[@]}" --out /dev/null
check "--out /dev/null: exit 2, still a device" eval \
    'rc_is 2 && err_has "not a regular file" && [ -c /dev/null ]'
mkfifo fifo
run "${MISSING[@]}" --out fifo
check "--out a FIFO: exit 2, still a FIFO" eval 'rc_is 2 && [ -p fifo ]'
ln -s /dev/zero zero
run "${MISSING[@]}" --out m4.bpn --log zero
check "--log a link to /dev/zero: exit 2" eval 'rc_is 2 && err_has "not a regular file"'
run "${MISSING[@]}" --out nodir/m.bpn
check "--out in a missing directory: exit 2" eval 'rc_is 2 && err_has "nodir"'

# ---------------------------------------------------------------- writability proven, not assumed
# The pre-flight creates and removes a file where each output goes (access() answers for the real
# user, and root passes it almost everywhere), so that these fail before any data is loaded. They
# need root (a mount namespace, another effective user); each skips with a message where refused.
if [ "$(id -u)" -ne 0 ]; then
    echo "skip   writability as root: not root"
else
    saved=("${WRAP[@]}")
    mkdir full rodir
    # shellcheck disable=SC2016 # $0 and $@ are the inner shell's
    if unshare -rm sh -c 'mount -t tmpfs -o nr_inodes=2,size=64k none full' 2> /dev/null; then
        WRAP=(unshare -rm sh -c 'mount -t tmpfs -o nr_inodes=2,size=64k none full &&
              : > full/only && exec "$0" "$@"' "${saved[@]}")
        run "${D[@]}" --out full/m.bpn
        check "--out on a file system out of inodes (root): exit 2 before training" eval \
            'rc_is 2 && err_has "No space left on device" && untrained'
        run "${D[@]}" --out m8.bpn --log full/l.csv
        check "--log there: exit 2, no model written" eval 'rc_is 2 && untrained && absent m8.bpn'
        run "${D[@]}" --out m8.bpn --checkpoint-every 1 --checkpoint full/c.ckpt
        check "--checkpoint there: exit 2" eval 'rc_is 2 && untrained && absent m8.bpn'
        WRAP=(unshare -rm sh -c 'mount --bind -o ro rodir rodir && exec "$0" "$@"' "${saved[@]}")
        run "${D[@]}" --out rodir/m.bpn
        check "--out on a read-only mount (root): exit 2 before training" eval \
            'rc_is 2 && err_has "Read-only file system" && untrained'
        echo mounted > bind-src
        echo target > bind-dst
        WRAP=(unshare -rm sh -c 'mount --bind bind-src bind-dst && exec "$0" "$@"' "${saved[@]}")
        run "${D[@]}" --out bind-dst
        check "--out a bind-mounted file (as into a container): exit 2 before training" eval \
            'rc_is 2 && err_has "a mount point" && untrained'
        WRAP=("${saved[@]}")
        run "${D[@]}" --out bind-dst
        check "the same file, not mounted: replaced" eval 'rc_is 0 && [ "$(cat bind-src)" = mounted ]'
    else
        echo "skip   an exhausted and a read-only mount: unshare -rm refused here"
    fi
    chmod 711 "$T" # so that another user reaches the directories below
    mkdir -m 755 rootdir
    if setpriv --euid=65534 true 2> /dev/null; then
        if grep -qa -e __asan_init -e __lsan "$BP"; then # built with ASan and its LeakSanitizer
            echo "skip   root acting as nobody: LeakSanitizer fails where the effective user is" \
                 "not the real one"
        elif [ "${#saved[@]}" -gt 0 ]; then
            echo "skip   root acting as nobody: a wrapper ($CLI_TEST_WRAPPER) runs in between"
        else
            WRAP=(setpriv --euid=65534 "${saved[@]}")
            run "${D[@]}" --out rootdir/m.bpn
            check "root acting as nobody, --out in root's 0755 directory: exit 2 before training" \
                eval 'rc_is 2 && err_has "Permission denied" && untrained && absent rootdir/m.bpn'
        fi
        mkdir -m 777 open
        WRAP=(setpriv --reuid=65534 --regid=65534 --clear-groups "${saved[@]}")
        run "${D[@]}" --out open/m.bpn
        check "as nobody, --out in a writable directory: written, no probe left" eval \
            'rc_is 0 && [ -s open/m.bpn ] && [ "$(ls -a open | wc -l)" -eq 3 ]'
        run "${D[@]}" --out rootdir/m.bpn
        check "as nobody, --out in root's 0755 directory: exit 2" eval \
            'rc_is 2 && err_has "Permission denied" && untrained'
        mkdir -m 1777 sticky
        echo "root's" > sticky/theirs
        chmod 666 sticky/theirs
        run "${D[@]}" --out sticky/theirs
        check "as nobody, --out root's file in a sticky directory: exit 2 before training" eval \
            'rc_is 2 && err_has "sticky directory" && untrained && [ "$(cat sticky/theirs)" = "root'"'"'s" ]'
        run "${D[@]}" --out sticky/mine
        run "${D[@]}" --out sticky/mine --seed 3
        check "as nobody, its own file in a sticky directory: replaced" eval \
            'rc_is 0 && [ -s sticky/mine ] && [ "$(stat -c %u sticky/mine)" = 65534 ]'
    else
        echo "skip   another effective user: setpriv refused here"
    fi
    WRAP=("${saved[@]}")
    chmod 700 "$T"
fi

# ---------------------------------------------------------------- descriptors and standard output
ln -s /proc/self/fd/1 stdout-link # as /dev/stdout is
"${WRAP[@]}" "$BP" "${D[@]}" --out m13.bpn --log stdout-link > job.out 2> "$T/err"
RC=$?
check "--log a link to /proc/self/fd/1 (stdout a file): exit 2, the link stays a link" eval \
    'rc_is 2 && err_has "open file descriptor" && [ -L stdout-link ] && absent m13.bpn'
# A closed standard output (>&-) would be the number the log's file takes next.
LOUD=(train --train-csv train.csv --test-csv test.csv --layers 4-8-2 --epochs 3) # progress lines
"${WRAP[@]}" "$BP" "${LOUD[@]}" --out m14.bpn --log l14.csv >&- 2> "$T/err"
RC=$?
check "train >&- with --log: exit 0, the log holds its CSV rows only" eval \
    'rc_is 0 && [ "$(wc -l < l14.csv)" -eq 4 ] && ! grep -q "epoch 1/" l14.csv && [ -s m14.bpn ]'
if [ "${#WRAP[@]}" -eq 0 ]; then # a wrapper (valgrind) writes its own report on descriptor 2
    "$BP" "${LOUD[@]}" --out m15.bpn --log l15.csv >&- 2>&-
    RC=$?
    check "train with descriptors 1 and 2 closed: exit 0, the log and model whole" eval \
        'rc_is 0 && [ "$(wc -l < l15.csv)" -eq 4 ] && ! grep -q "epoch 1/" l15.csv && [ -s m15.bpn ]'
fi
if [ -w /dev/full ]; then
    "${WRAP[@]}" "$BP" predict --model m.bpn --csv test.csv > /dev/full 2> "$T/err"
    RC=$?
    check "predict > /dev/full: exit 1, says so" eval \
        'rc_is 1 && err_has "cannot write the standard output: No space left on device"'
    "${WRAP[@]}" "$BP" info m.bpn > /dev/full 2> "$T/err"
    RC=$?
    check "info > /dev/full: exit 1" eval 'rc_is 1 && err_has "standard output"'
else
    echo "skip   writes to /dev/full: no /dev/full"
fi

# ---------------------------------------------------------------- safe writing
echo precious > victim
ln -s victim L.tmp
run "${D[@]}" --out m5.bpn --log L
check "a link planted at LOG.tmp is not followed" eval \
    'rc_is 0 && [ "$(cat victim)" = precious ] && [ "$(wc -l < L)" -eq 3 ] && [ -L L.tmp ]'
rm L.tmp
"$BP" "${D[@]}" --epochs 40 --out p1.bpn --log shared.csv > /dev/null 2>&1 &
pid=$!
run "${D[@]}" --epochs 40 --out p2.bpn --log shared.csv
wait $pid
other=$?
lines=$(wc -l < shared.csv)
temps=$(ls -a | grep '\.tmp' | tr '\n' ' ')
check "two runs on one --log: both succeed, the log is one whole run's (the other run's exit \
status $other, $lines lines, temporary files: ${temps:-none})" eval \
    'rc_is 0 && [ "$other" -eq 0 ] && [ "$lines" -eq 41 ] && [ -z "$temps" ]'
chmod 640 m.bpn
run "${D[@]}" --seed 2 --out m.bpn
check "a replaced model keeps its mode" eval \
    'rc_is 0 && [ "$(stat -c %a m.bpn)" = 640 ] && ! cmp -s m.bpn m.copy'
n255=$(printf 'x%.0s' $(seq 255))
n254=${n255:1}
run "${D[@]}" --out "$n255"
check "a 255-byte --out name" eval 'rc_is 0 && [ -s "$n255" ]'
run "${D[@]}" --out "$n254" --log "${n254%x}y"
check "254-byte --out and --log names" eval 'rc_is 0 && [ -s "$n254" ] && [ -s "${n254%x}y" ]'
run "${D[@]}" --out "$n254" --checkpoint-every 1
check "a default checkpoint name over 255 bytes (MODEL.ckpt): exit 2 before training" eval \
    'rc_is 2 && err_has "^backprop train: --checkpoint x*.ckpt: .*too long" && untrained'
check "no temporary file left" no_temporary

# ---------------------------------------------------------------- plots (with gnuplot)
if command -v gnuplot > /dev/null; then
    run "${MISSING[@]}" --out m6.bpn --plot m6.bpn
    check "--plot = --out: exit 2 before loading" eval 'rc_is 2 && err_has "--plot m6.bpn"'
    run "${MISSING[@]}" --out m6.bpn --plot /dev/null
    check "--plot /dev/null: exit 2" eval 'rc_is 2 && err_has "not a regular file"'
    run "${D[@]}" --out m6.bpn --log l6.csv --plot p6.png
    check "--plot with --log: both written whole, no temporary file" eval \
        'rc_is 0 && [ -s p6.png ] && [ "$(wc -l < l6.csv)" -eq 3 ] && no_temporary'
    run "${D[@]}" --out m7.bpn --plot p7.png
    check "--plot alone: the PNG, its data gone" eval 'rc_is 0 && [ -s p7.png ] && no_temporary'
    run plot l6.csv ./l6.csv
    check "backprop plot LOG LOG: exit 2, the log untouched" eval \
        'rc_is 2 && [ "$(wc -l < l6.csv)" -eq 3 ]'
    # File names are data to gnuplot, never commands: a line break would end the script's quoted
    # string ("system" runs a shell), '<cmd' is read and '|cmd' written through a shell.
    png() { [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '211PNG' ]; }
    nl_log=$'n\nsystem "touch pwned-nl"\n.csv'
    cp l6.csv "$nl_log"
    run plot "$nl_log" p8.png
    check "plot: a log name with a line break and a command: exit 2, nothing run" eval \
        'rc_is 2 && err_has "control character 0x0a" && absent pwned-nl p8.png'
    run "${D[@]}" --out m9.bpn --log "$nl_log" --plot p8.png
    check "train --log such a name with --plot: exit 2 before training" eval \
        'rc_is 2 && untrained && absent pwned-nl p8.png m9.bpn'
    run "${D[@]}" --out $'m\nsystem "touch pwned-title"\n.bpn' --plot p9.png
    check "train --plot, --out (the title) with a line break and a command: drawn, nothing run" \
        eval 'rc_is 0 && png p9.png && absent pwned-title'
    cp l6.csv '<touch pwned-lt'
    run plot '<touch pwned-lt' p10.png
    check "plot: a log named '<cmd' is read as a file" eval \
        'rc_is 0 && png p10.png && absent pwned-lt'
    run plot l6.csv '|touch pwned-bar'
    check "plot: a PNG named '|cmd' is written as a file" eval \
        'rc_is 0 && png "|touch pwned-bar" && absent pwned-bar && no_temporary'
    saved=("${WRAP[@]}")
    WRAP=(timeout 60 "${saved[@]}")
    run plot fifo p12.png
    WRAP=("${saved[@]}")
    check "plot: a FIFO as the log: exit 1 at once, no wait for a writer" eval \
        'rc_is 1 && err_has "not a regular file" && absent p12.png'
    cp l6.csv -
    run plot - p11.png
    check "plot: a log named '-' is the file, not gnuplot's inline data" eval 'rc_is 0 && png p11.png'
else
    echo "skip   --plot checks: gnuplot is not installed"
fi

# ---------------------------------------------------------------- values as floats
for flag in "--clip 1e-46" "--lambda 1e-50" "--eta-min 1e-46" "--momentum 0.99999999999" \
            "--gamma 1e-46" "--eta 1e-46" "--dropout 1e-50"; do
    read -r -a f <<< "$flag"
    run "${MISSING[@]}" "${f[@]}"
    check "$flag: a float of another meaning: exit 2 before loading" eval \
        'rc_is 2 && err_has "as a float" && ! err_has missing.csv'
done
run "${MISSING[@]}" --clip 1e-45 --momentum 0.9999999
check "--clip 1e-45 --momentum 0.9999999 (floats as given): accepted" eval 'rc_is 1 && err_has missing.csv'
run "${MISSING[@]}" --eta 1e-45 --schedule step --gamma 1e-20 --step-epochs 1 --epochs 3
check "a step schedule that underflows at epoch 2: exit 2 before loading" eval \
    'rc_is 2 && err_has "epoch 2 of 3" && ! err_has missing.csv'
run "${MISSING[@]}" --eta 1e-45 --schedule step --gamma 1e-20 --step-epochs 1 --epochs 1
check "the same schedule over 1 epoch: accepted" eval 'rc_is 1 && err_has missing.csv'

run "${MISSING[@]}" --layers 4-8-8-2 --dropout 0.1,1e-50
check "--dropout 0.1,1e-50: the second rate rounds to 0, exit 2" eval \
    'rc_is 2 && err_has "rate 2 rounds to 0 as a float"'
run "${MISSING[@]}" --dropout 1e-45
check "--dropout 1e-45 (the smallest float above 0): accepted" eval 'rc_is 1 && err_has missing.csv'
run "${MISSING[@]}" --eta 0.1 --weight-decay 25
check "--weight-decay 25 --eta 0.1 (eta wd 2.5 > 1): exit 2 before loading" eval \
    'rc_is 2 && err_has "eta times the decay is 2.5" && ! err_has missing.csv'
run "${MISSING[@]}" --eta 0.1 --weight-decay 10
check "--weight-decay 10 --eta 0.1 (eta wd 1 as floats): accepted" eval \
    'rc_is 1 && err_has missing.csv'

# ---------------------------------------------------------------- flags that only another flag uses
for weight in --energy-weight --force-weight; do # even at its default, 1
    run "${MISSING[@]}" "$weight" 1
    check "$weight 1 without --forces: exit 2 before loading" eval \
        'rc_is 2 && err_has "give --forces" && ! err_has missing.csv'
done
run "${MISSING[@]}" --layers 4-2 --dropout 0.5
check "--dropout 0.5 on a network without hidden layers: exit 2 before loading" eval \
    'rc_is 2 && err_has "no hidden layer" && ! err_has missing.csv'
run "${MISSING[@]}" --layers 4-2 --dropout 0 --input-dropout 0.2
check "--dropout 0 and --input-dropout on a network without hidden layers: accepted" eval \
    'rc_is 1 && err_has missing.csv'
FORCES=(train --train-csv missing.csv --validation 2 --layers 4-8-1 --output identity
        --cost quadratic --forces 4 --quiet)
run "${FORCES[@]}" --energy-weight 0 --force-weight 0
check "--forces with both weights 0 (nothing fitted): exit 2 before loading" eval \
    'rc_is 2 && err_has "fits nothing" && ! err_has missing.csv'
run "${FORCES[@]}" --energy-weight 0 --force-weight 2
check "--forces with the energy's weight 0 alone: accepted" eval 'rc_is 1 && err_has missing.csv'

# ---------------------------------------------------------------- a poisoned checkpoint
if command -v python3 > /dev/null; then
    run "${D[@]}" --epochs 1 --out pc.bpn --checkpoint-every 1 --checkpoint pc.ckpt
    cp pc.ckpt nan.ckpt
    # The model section's last parameter NaN, its CRC recomputed (that of the state is untouched).
    python3 - nan.ckpt <<'PY'
import struct, sys, zlib
b = bytearray(open(sys.argv[1], 'rb').read())
crc = 20 + struct.unpack_from('<Q', b, 12)[0] - 4
struct.pack_into('<f', b, crc - 4, float('nan'))
struct.pack_into('<I', b, crc, zlib.crc32(bytes(b[20:crc])))
open(sys.argv[1], 'wb').write(b)
PY
    run "${D[@]}" --epochs 3 --out pn.bpn --resume nan.ckpt
    check "--resume of a checkpoint with a NaN under valid CRCs: cannot resume, names it" eval \
        'rc_is 1 && err_has "cannot resume from nan.ckpt" && err_has "nan" &&
         ! err_has "training failed" && absent pn.bpn'
    run "${D[@]}" --epochs 3 --out pn.bpn --resume pc.ckpt
    check "--resume of the same checkpoint unpoisoned: resumes" eval 'rc_is 0 && [ -s pn.bpn ]'
else
    echo "skip   poisoned checkpoint: python3 is not installed"
fi

# ---------------------------------------------------------------- messages naming the cause
mkdir zero-idx
ln -s /dev/zero zero-idx/train-images-idx3-ubyte
: > zero-idx/train-labels-idx1-ubyte
run train --data zero-idx --out z.bpn --quiet
check "an IDX name that is a device is named as such, not as missing" eval \
    'rc_is 1 && err_has "not a regular file" && ! err_has "found neither"'
run "${D[@]}" --patience 1 --out e.bpn --checkpoint-every 2 --checkpoint end.ckpt
run "${D[@]}" --patience 1 --out e.bpn --resume end.ckpt
check "resuming the last epoch's checkpoint: no 'early stop after epoch 0'" eval \
    'rc_is 0 && ! grep -q "early stop after" "$T/out" && grep -q "no epoch left" "$T/out"'

# ---------------------------------------------------------------- predict on a one-input model
cut -d, -f1,5 train.csv > one-train.csv # x1 and the label
cut -d, -f1 train.csv > one.csv
run train --train-csv one-train.csv --test-csv one-train.csv --layers 1-4-2 --epochs 2 --quiet \
    --out one.bpn
run predict --model one.bpn --csv one-train.csv
cp "$T/out" one-with-label.out
check "predict, one input, the feature and its label: 60 rows" eval \
    'rc_is 0 && [ "$(lines_of one-with-label.out)" -eq 61 ]'
run predict --model one.bpn --csv one.csv
check "predict, one input, a one-column CSV: the same rows" eval \
    'rc_is 0 && cmp -s "$T/out" one-with-label.out'
{ echo x1; cat one.csv; } > one-header.csv
run predict --model one.bpn --csv one-header.csv
check "a one-column CSV with a header line (detected)" eval \
    'rc_is 0 && cmp -s "$T/out" one-with-label.out'
run predict --model one.bpn --csv one-header.csv --header
check "a one-column CSV with --header" eval 'rc_is 0 && cmp -s "$T/out" one-with-label.out'
run predict --model one.bpn --csv - < one.csv
check "a one-column CSV on standard input" eval 'rc_is 0 && cmp -s "$T/out" one-with-label.out'
run predict --model one.bpn --csv one.csv --header
check "a one-column CSV with --header: its first line is skipped" eval \
    'rc_is 0 && [ "$(lines_of "$T/out")" -eq 60 ]'
cut -d, -f1,2,5 train.csv > one-wide.csv
run predict --model one.bpn --csv one-wide.csv
check "three columns for one input: refused, named" eval \
    'rc_is 1 && err_has "has 3 columns but the model has 1 inputs"'
run predict --model one.bpn --csv <(printf '0.5\nabc\n')
check "a one-column CSV with a word in it: refused" eval 'rc_is 1 && err_has "not a number"'
run predict --model one.bpn --csv <(printf '0.5\n0.1,1\n')
check "a ragged one-column CSV: refused" eval 'rc_is 1 && err_has "2 columns, expected 1"'
run predict --model m.bpn --csv one.csv
check "a one-column CSV for a four-input model: refused" eval \
    'rc_is 1 && err_has "has 1 columns but the model has 4 inputs"'

# ---------------------------------------------------------------- the network against the data first
# A --forces network the force loss cannot carry: a usage error before any data is read.
FN=(train --train-csv missing.csv --validation 2 --hidden tanh --forces 4 --quiet)
run "${FN[@]}" --layers 4-8-2 --output identity --cost quadratic
check "--forces on a network of two outputs: exit 2 before loading" eval \
    'rc_is 2 && err_has "fits one output" && ! err_has missing.csv && ! err_has "training failed"'
run "${FN[@]}" --layers 4-8-1 --output softmax --cost nll
check "--forces on a softmax/nll network: exit 2 before loading" eval \
    'rc_is 2 && err_has "not --output softmax --cost nll" && ! err_has missing.csv'
run "${FN[@]}" --layers 4-8-1 --output sigmoid --cost cross-entropy
check "--forces on a sigmoid/cross-entropy network: exit 2 before loading" eval \
    'rc_is 2 && err_has "not --output sigmoid --cost cross-entropy" && ! err_has missing.csv'
run "${FN[@]}" --layers 4-8-1 --output identity --cost quadratic
check "--forces on a one-output quadratic network: accepted" eval 'rc_is 1 && err_has missing.csv'
run "${MISSING[@]}" --layers 4-8-3 --output identity --cost quadratic --targets 2
check "--targets 2 with 3 outputs: exit 2 before loading" eval \
    'rc_is 2 && err_has "output layer has 3 neurons" && ! err_has missing.csv'
# --layers wider than the data: refused from the CSV's first line, before the network is made
# (200000000-2 ran past a minute, 2147483646-1 allocated 8 GB first): within 10 s, or timeout's 124.
SAVED_WRAP=("${WRAP[@]}")
WRAP=(timeout 10 "${WRAP[@]}")
run "${D[@]}" --layers 200000000-2
check "--layers 200000000-2 on 4 features: refused at once, names the width" eval \
    'rc_is 1 && err_has "the network'"'"'s 200000000 inputs" && err_has "5 columns"'
run "${D[@]}" --layers 2147483646-1 --forces 2147483646 --output identity --cost quadratic
check "--layers 2147483646-1 --forces 2147483646: refused at once" eval \
    'rc_is 1 && err_has "2147483646 inputs" && err_has "5 columns"'
WRAP=("${SAVED_WRAP[@]}")
{ echo "# a comment"; echo; echo x1,x2,x3,x4,label; cat train.csv; } > headed.csv
run train --train-csv headed.csv --test-csv test.csv --layers 3-8-2 --epochs 1 --quiet
check "--layers 3 on a CSV of 4 features after a comment and a header: refused" eval \
    'rc_is 1 && err_has "headed.csv:4: 5 columns"'
run train --train-csv headed.csv --test-csv test.csv --layers 4-8-2 --epochs 1 --quiet --out hd.bpn
check "the same CSV for --layers 4-8-2: trains" eval 'rc_is 0 && [ -s hd.bpn ]'
run train --train-csv - --test-csv test.csv --layers 4-8-2 --epochs 1 --quiet --out sd.bpn \
    < train.csv
check "--train-csv - (read once, not peeked): trains" eval 'rc_is 0 && [ -s sd.bpn ]'

# ---------------------------------------------------------------- a model of NaN parameters
if command -v python3 > /dev/null; then
    run "${D[@]}" --out good.bpn
    # parameter 0 of the version-1 file NaN, its CRC recomputed
    python3 - good.bpn nan.bpn <<'PY'
import struct, sys, zlib
b = bytearray(open(sys.argv[1], 'rb').read())
L = struct.unpack_from('<I', b, 12)[0]
struct.pack_into('<f', b, 24 + 8 * L, float('nan'))
struct.pack_into('<I', b, len(b) - 4, zlib.crc32(bytes(b[:-4])))
open(sys.argv[2], 'wb').write(b)
PY
    run eval --model nan.bpn --csv test.csv
    check "eval of a model with a NaN parameter: exit 1, no accuracy" eval \
        'rc_is 1 && err_has "outputs are not finite" && out_has "accuracy nan" &&
         ! out_has "confusion"'
    run eval --model good.bpn --csv test.csv
    check "eval of the same model unpoisoned: an accuracy" eval \
        'rc_is 0 && out_has "accuracy 0\." && out_has confusion'
    run predict --model nan.bpn --csv test.csv
    check "predict of a model with a NaN parameter: class nan, exit 1 counting them" eval \
        'rc_is 1 && err_has "not finite for 60 of 60 samples" &&
         [ "$(grep -c "^nan,nan,nan$" "$T/out")" -eq 60 ]'
    run predict --model good.bpn --csv test.csv
    check "predict of the same model unpoisoned: classes" eval \
        'rc_is 0 && [ "$(grep -c "^[01],0\." "$T/out")" -ge 1 ] && ! grep -q nan "$T/out"'
else
    echo "skip   NaN model: python3 is not installed"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
