#!/bin/sh
# Usage: bench/clone_isa.sh [OBJECT [FUNCTIONS]]
# What the compiler made of each target_clones clone: for every function of OBJECT (default: the
# release build's kernels.c.o) whose name matches the regular expression FUNCTIONS (default: the
# elementwise kernels), the count of packed floating-point instructions by register width
# (xmm/ymm/zmm), the scalar arithmetic instructions (…ss/…sd, moves and conversions left out:
# their count and each mnemonic once) and the calls. A loop over a count the compiler does not
# know keeps a scalar copy of its body for the remainder: that is where most scalar code is.
obj=${1:-build/release/CMakeFiles/backprop.dir/src/kernels.c.o}
pattern=${2:-bias_activate|mul_dsigma}
objdump -d --no-show-raw-insn "$obj" | awk -v pat="$pattern" '
/^[0-9a-f]+ </ { f = $2; next }
f ~ pat && /^ +[0-9a-f]+:\t/ {
    split($0, a, "\t"); split(a[2], b, " "); m = b[1]
    if (m ~ /^call/) calls[f]++
    else if (m ~ /(ps|pd)$/ && m !~ /mov|broadcast|unpck|shuf|perm/) {
        w = a[2] ~ /zmm/ ? "zmm" : a[2] ~ /ymm/ ? "ymm" : "xmm"; packed[f, w]++; seen[f] = 1
    } else if (m ~ /(ss|sd)$/ && m !~ /mov|cvt|comi|broadcast/) {
        nscalar[f]++; seen[f] = 1
        if (!((f, m) in kinds)) { kinds[f, m] = 1; scalar[f] = scalar[f] " " m }
    }
}
END {
    for (f in seen) {
        printf "%s packed: xmm %d, ymm %d, zmm %d; calls %d; scalar: %d%s\n", f, packed[f, "xmm"],
               packed[f, "ymm"], packed[f, "zmm"], calls[f], nscalar[f],
               scalar[f] == "" ? "" : " (" substr(scalar[f], 2) ")"
    }
}' | sort
