#!/usr/bin/env bash
# Every benchmark of bench/ in one run, for the README's Benchmarks section: the machine (date,
# CPU, load before and after), the elementwise-kernel table, the instructions of each clone of the
# kernels (clone_isa.sh), the grid of bench_backprop (with FANN when the bench was built with
# libfann-dev, and its plot), PyTorch alternated with the bench (bench/torch_peer.py, when
# python3-torch is installed), the floor of the step's products in any layout (bench_products),
# the worker threads (bench_workers, on the plain and on the force-loss step) and the derivatives
# (bench_deriv).
# Markdown on stdout; the CSVs and the plot go to OUTDIR.
#
#   bench/report.sh [BUILD_DIR [OUTDIR]]     (defaults: build/bench, bench-report)
#
# BUILD_DIR is a Release build with the benchmarks: cmake --workflow --preset bench. One run takes
# about 15 minutes; run it on a machine as quiet as you can get (the load is printed for that).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/bench}
out=${2:-bench-report}
bench=$build/bench
for b in bench_backprop bench_products bench_workers bench_deriv; do
  [[ -x $bench/$b ]] || { echo "report.sh: $bench/$b missing: cmake --workflow --preset bench" >&2; exit 2; }
done
mkdir -p "$out"

machine() {
  echo "- $1: $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
echo "## One run of bench/report.sh"
echo
machine start
echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, $(grep -q -w avx512f /proc/cpuinfo && echo avx512f || { grep -q -w avx2 /proc/cpuinfo && echo avx2; } || echo 'no AVX2')"
echo "- compiler: $(cc --version | head -1)"
echo
echo '### The kernels and the grid: `bench_backprop --budget 2`'
echo
"$bench/bench_backprop" --budget 2 --csv "$out/bench.csv" --plot "$out/bench-784-100-10.png"
echo
echo '### The generated code of the kernels: `bench/clone_isa.sh`'
echo
echo '```'
bench/clone_isa.sh "$build/CMakeFiles/backprop.dir/src/kernels.c.o" \
  'bias_activate|mul_dsigma|tangent_adjoint'
echo '```'
echo
# Debian's python3-torch belongs to the system's interpreter, which a PATH may shadow (pyenv).
python=
for py in ${PYTHON:-} python3 /usr/bin/python3; do
  if "$py" -c 'import torch' 2>/dev/null; then python=$py; break; fi
done
if [[ -n $python ]]; then
  echo '### PyTorch alternated with the bench: `torch_peer.py --rounds 5 --budget 0.5`'
  echo
  "$python" bench/torch_peer.py --bench "$bench/bench_backprop" --rounds 5 --budget 0.5 \
    --csv "$out/torch.csv"
  echo
fi
echo '### The floor of the step'"'"'s products at B = 1024, 1 thread: `bench_products --rounds 11`'
echo
"$bench/bench_products" --nets 784-100-10,784-256-128-10 --batch 1024 --rounds 11
echo
echo '### Worker threads: `bench_workers --rounds 5`'
echo
"$bench/bench_workers" --nets 784-100-10,784-256-128-10 --batches 10,128,1024 --workers 2 --rounds 5
echo
echo '### Worker threads on the force-loss step: `bench_workers --nets 2-64-64-1,30-128-128-1,192-256-256-1 --rounds 5`'
echo
"$bench/bench_workers" --nets 2-64-64-1,30-128-128-1,192-256-256-1 --batches 16,64,256 --workers 2 \
  --rounds 5
echo
echo '### Derivatives: `bench_deriv --batch 128`'
echo
"$bench/bench_deriv" --batch 128
echo
machine end
