#!/bin/sh
# Usage: bench/clone_isa.sh [OBJECT [FUNCTIONS]]
# What the compiler made of each target_clones clone: for every function of OBJECT (default: the
# release build's kernels.c.o) whose name matches the regular expression FUNCTIONS (default: the
# elementwise kernels), the count of packed floating-point instructions by register width
# (xmm/ymm/zmm), the scalar arithmetic instructions (…ss/…sd, moves and conversions left out)
# and the calls.
obj=${1:-build/release/CMakeFiles/backprop.dir/src/kernels.c.o}
pattern=${2:-bias_activate|mul_dsigma}
objdump -d --no-show-raw-insn "$obj" | awk -v pat="$pattern" '
/^[0-9a-f]+ </ { f = $2; next }
f ~ pat && /^ +[0-9a-f]+:\t/ {
    split($0, a, "\t"); split(a[2], b, " "); m = b[1]
    if (m ~ /^call/) calls[f]++
    else if (m ~ /(ps|pd)$/ && m !~ /mov|broadcast|unpck|shuf|perm/) {
        w = a[2] ~ /zmm/ ? "zmm" : a[2] ~ /ymm/ ? "ymm" : "xmm"; packed[f, w]++; seen[f] = 1
    } else if (m ~ /(ss|sd)$/ && m !~ /mov|cvt|comi|broadcast/) { scalar[f] = scalar[f] " " m; seen[f] = 1 }
}
END {
    for (f in seen) {
        printf "%s packed: xmm %d, ymm %d, zmm %d; calls %d; scalar:%s\n", f, packed[f, "xmm"],
               packed[f, "ymm"], packed[f, "zmm"], calls[f], scalar[f] == "" ? " none" : scalar[f]
    }
}' | sort
