#!/usr/bin/env bash
# Fuzz every target of tests/fuzz for SECONDS each, one after the other, and fail if any of them
# finds a crash, a leak, undefined behaviour, a timeout or an allocation over the limit.
#
#   tests/fuzz/run.sh [SECONDS [BUILD_DIR]]     (defaults: 60, build/fuzz: cmake --workflow --preset fuzz)
#
# Each target starts from the generated seed corpus, the regression inputs and what earlier runs
# found (BUILD_DIR/tests/fuzz/run/TARGET/, where new inputs go); the seeds and regressions are
# only read. A crashing input is saved as BUILD_DIR/tests/fuzz/run/TARGET-crash-*: copy it to
# tests/fuzz/regressions/TARGET/ once the bug is fixed. -rss_limit_mb=2048 fails the process past
# libFuzzer's default 2 GB; -malloc_limit_mb=64 fails any single allocation of 64 MB or more: inputs
# are at most 16 KiB (libFuzzer's guess from the largest seed), and the most that honest data of
# that size needs is the one-hot targets of 4096 CSV samples of 256 classes (4 MB, 8 with the
# doubling). Only a valid gzip bomb of two files with matching counts could legitimately exceed it.
set -euo pipefail
seconds=${1:-60}
cd "$(dirname "$0")/../.."
fuzz=${2:-build/fuzz}/tests/fuzz
run=$fuzz/run
targets=(model_load roundtrip idx_load csv_load cli_args checkpoint_load train_setup)

for t in "${targets[@]}"; do
  [[ -x $fuzz/fuzz_$t ]] || { echo "run.sh: $fuzz/fuzz_$t missing: build the fuzz preset first" >&2; exit 2; }
done
"$fuzz/fuzz_corpus" "$fuzz/corpus"

failed=()
for t in "${targets[@]}"; do
  mkdir -p "$run/$t"
  dirs=("$run/$t" "$fuzz/corpus/$t")
  [[ -d tests/fuzz/regressions/$t ]] && dirs+=("tests/fuzz/regressions/$t")
  # -close_fd_mask=1: the CLI's --help text; its usage messages (stderr) are filtered out of the
  # log, which keeps libFuzzer's and the sanitizers' reports.
  set +e
  OPENBLAS_NUM_THREADS=1 "$fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -malloc_limit_mb=64 -print_final_stats=1 -close_fd_mask=1 \
      -artifact_prefix="$run/$t-" "${dirs[@]}" 2>&1 |
    grep -av -e '^backprop fuzz: ' -e "^Run 'backprop fuzz --help'" > "$run/$t.log"
  status=${PIPESTATUS[0]}
  set -e
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$run/$t.log")
  printf 'fuzz %-10s %10s executions in %s s, corpus %s inputs\n' "$t" "${execs:-?}" "$seconds" \
    "$(ls "$run/$t" | wc -l)"
  if [[ $status -ne 0 ]]; then
    failed+=("$t")
    tail -n 60 "$run/$t.log"
  fi
done
if [[ ${#failed[@]} -ne 0 ]]; then
  echo "run.sh: failures in: ${failed[*]} (inputs: $run/*-crash-*, *-leak-*, *-oom-*, *-timeout-*)" >&2
  exit 1
fi
