#!/usr/bin/env bash
# Distributed faults of `mpirun -np 2 backprop train` (label mpi):
#  1. a rank killed (SIGKILL) in the middle of an epoch: the job exits non-zero within 30 s, never
#     hangs; the last checkpoint it wrote is whole, and resumed on one rank it ends with the bits
#     of a one-rank run from that checkpoint which is itself checkpointed and resumed on the way
#     (the state a killed job leaves is an ordinary resumable state);
#  2. two ranks in two network namespaces joined by a veth pair, over Open MPI's tcp BTL: they
#     train and give the model of the same run on shared memory byte for byte. Skipped, with a
#     message, where network namespaces or veth pairs are refused (not root, no CAP_NET_ADMIN).
#   bash faults_mpi.sh MPIEXEC path/to/backprop
set -u
MPIEXEC=$1
BP=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
T=$(mktemp -d "${TMPDIR:-/tmp}/backprop-mpi-faults.XXXXXX") || exit 2
NS=bp$$
cleanup() {
    ip netns del "${NS}a" 2> /dev/null
    ip netns del "${NS}b" 2> /dev/null
    rm -rf "$T"
}
trap cleanup EXIT
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
make_csv 1 20000 train.csv
make_csv 2 99 test.csv
TRAIN=(train --train-csv train.csv --test-csv test.csv --layers 4-8-2 --batch 10 --eta 0.01
       --schedule constant --quiet)
EPOCHS=100000 # far more than run before the kill

# ---------------------------------------------------------------- a rank killed mid-epoch
"$MPIEXEC" -np 2 --oversubscribe "$BP" "${TRAIN[@]}" --epochs $EPOCHS --out killed.bpn \
    --checkpoint-every 1 --checkpoint run.ckpt > /dev/null 2> killed.err &
job=$!
for _ in $(seq 600); do [ -e run.ckpt ] && break; sleep 0.05; done
sleep 0.3 # into a later epoch
victim=""
for pid in $(pgrep -f -- "--out killed.bpn"); do
    if tr '\0' '\n' < "/proc/$pid/environ" 2> /dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then
        victim=$pid
    fi
done
check "the job is running, rank 1 found" [ -n "$victim" ]
start=$(date +%s)
[ -n "$victim" ] && kill -KILL "$victim"
rc=0
for _ in $(seq 300); do kill -0 "$job" 2> /dev/null || break; sleep 0.1; done
if kill -0 "$job" 2> /dev/null; then
    kill -KILL "$job"
    check "the job ends within 30 s of the kill" false
else
    wait "$job"
    rc=$?
    check "the job ends within 30 s of the kill ($(( $(date +%s) - start )) s)" true
fi
check "... with a non-zero status ($rc)" [ "$rc" -ne 0 ]
check "no model written" [ ! -e killed.bpn ]
cp run.ckpt last.ckpt
# Its epoch (docs/checkpoint-format.md: the state section follows the model, whose length is the
# 8 bytes at offset 12; the epoch is the state's bytes 12..15); a whole file loads (below).
mlen=$(od -An -tu8 -j12 -N8 last.ckpt | tr -d ' ')
E=$(od -An -tu4 -j$((20 + mlen + 12)) -N4 last.ckpt | tr -d ' ')
check "the last checkpoint is after epoch $E (>= 1)" [ "$E" -ge 1 ]
# From it, on one rank: E+2 epochs in one go, and E+1 then a resume to E+2.
"$BP" "${TRAIN[@]}" --epochs $((E + 2)) --resume last.ckpt --out whole.bpn > /dev/null 2>&1
rc_whole=$?
"$BP" "${TRAIN[@]}" --epochs $((E + 2)) --resume last.ckpt --out half.bpn --checkpoint-every \
    $((E + 1)) > /dev/null 2>&1
"$BP" "${TRAIN[@]}" --epochs $((E + 2)) --resume half.bpn.ckpt --out half.bpn > /dev/null 2>&1
check "resumed on one rank: the bits of the uninterrupted one-rank run" eval \
    '[ "$rc_whole" -eq 0 ] && [ -s whole.bpn ] && cmp -s whole.bpn half.bpn'

# ---------------------------------------------------------------- two namespaces over TCP
if ! ip netns add "${NS}a" 2> /dev/null || ! ip netns add "${NS}b" 2> /dev/null ||
   ! ip link add "${NS}x" netns "${NS}a" type veth peer name "${NS}y" netns "${NS}b" 2> /dev/null
then
    echo "skip   two ranks in two network namespaces: namespaces or veth pairs refused here"
else
    ip -n "${NS}a" addr add 10.77.0.1/24 dev "${NS}x"
    ip -n "${NS}b" addr add 10.77.0.2/24 dev "${NS}y"
    for n in a b; do ip -n "$NS$n" link set lo up; done
    ip -n "${NS}a" link set "${NS}x" up
    ip -n "${NS}b" link set "${NS}y" up
    # Two "hosts": mpirun in namespace a is 10.77.0.1; 10.77.0.2 is reached through an rsh agent
    # that starts Open MPI's daemon in namespace b (and leaves a mark that it did). Daemons and
    # ranks then talk over the veth pair only: the OOB and the tcp BTL are held to its subnet.
    printf '#!/bin/sh\nshift\necho launched > "%s/launched-in-b"\nexec ip netns exec %s sh -c "$*"\n' \
        "$T" "${NS}b" > agent.sh
    chmod +x agent.sh
    make_csv 1 201 small.csv
    SMALL=(train --train-csv small.csv --test-csv test.csv --layers 4-8-2 --batch 10 --eta 0.01
           --schedule constant --quiet --epochs 3)
    OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=10.77.0.0/24 \
        OMPI_MCA_oob_tcp_if_include=10.77.0.0/24 OMPI_MCA_plm_rsh_agent="$T/agent.sh" \
        timeout 120 ip netns exec "${NS}a" "$MPIEXEC" --host 10.77.0.1:1,10.77.0.2:1 -np 2 \
        "$BP" "${SMALL[@]}" --out tcp.bpn > tcp.out 2> tcp.err
    rc=$?
    "$MPIEXEC" -np 2 --oversubscribe "$BP" "${SMALL[@]}" --out shm.bpn > /dev/null 2>&1
    check "rank 1's daemon started in the second namespace" [ -e launched-in-b ]
    check "two ranks in two namespaces over TCP: exit 0 ($rc)" [ "$rc" -eq 0 ]
    check "... the model of the shared-memory run, byte for byte" cmp -s tcp.bpn shm.bpn
    [ "$rc" -eq 0 ] || sed 's/^/    /' tcp.err | head -20
fi
echo "$failed failed"
[ "$failed" -eq 0 ]
