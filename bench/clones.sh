#!/usr/bin/env bash
# What the compiler made of the elementwise kernels: for each target_clones clone (avx512f, avx2,
# default) of each function of src/kernels.c, the floating-point instructions of its code by
# vector width (zmm: 16 floats, ymm: 8, packed xmm: 4, scalar: 1) and its calls (a libm call per
# element would show here). Read from the object file with objdump; markdown on stdout.
#
#   bench/clones.sh [BUILD_DIR]     (default build/bench; any build of the static library)
#
# A clone whose float arithmetic is mostly scalar is not vectorised, whatever its source meant.
# Scalar instructions remain where the code is scalar by design: the softmax's sums and maximum
# (in index order), the z-keeping activations' per-column setup, the clones' loop prologues.
set -euo pipefail
build=${1:-build/bench}
obj=$(find "$build" -path '*backprop.dir/src/kernels.c.o' | head -1)
[[ -n $obj ]] || { echo "clones.sh: no kernels.c.o under $build" >&2; exit 2; }
command -v objdump >/dev/null || { echo "clones.sh: objdump missing (binutils)" >&2; exit 2; }

echo "| function | clone | zmm | ymm | xmm packed | scalar | calls |"
echo "|---|---|--:|--:|--:|--:|--:|"
for fn in $(nm "$obj" | awk '$2 ~ /^[tT]$/ && $3 ~ /\.(avx512f|avx2|default)$/ {print $3}' | sort); do
  objdump -d --no-show-raw-insn "$obj" --disassemble="$fn" | awk -v fn="$fn" '
    # the floating-point instructions: mnemonic ends in ps/pd (packed) or ss/sd (scalar)
    $2 ~ /^v?[a-z0-9]+(ps|pd|ss|sd)$/ && $2 !~ /^v?mov/ {
      if ($0 ~ /%zmm/) z++
      else if ($0 ~ /%ymm/) y++
      else if ($2 ~ /(ps|pd)$/) x++
      else s++
    }
    $2 == "call" { c++ }
    END {
      split(fn, part, ".")
      printf "| %s | %s | %d | %d | %d | %d | %d |\n", part[1], part[2], z, y, x, s, c
    }'
done
