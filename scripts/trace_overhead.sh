#!/bin/sh
# The instruction trace's cost inside the emulator: the kernel's wall time (report.json `wall_us`, measured
# inside the emulator process) with the trace recorded (`mogec run`, the default) and without it
# (`--no-model`), alternating, pinned to one CPU; prints the medians and their ratio per case.
# Usage: scripts/trace_overhead.sh [RUNS] (default 7); MOGEC=path/to/mogec (default target/release/mogec).
set -eu
runs=${1:-7}
mogec=${MOGEC:-target/release/mogec}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
wall() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["wall_us"])' "$out/report.json"; }
case_() {
    name=$1
    shift
    : >"$out/on"
    : >"$out/off"
    i=0
    while [ "$i" -lt "$runs" ]; do
        taskset -c 1 "$mogec" run "$@" -o "$out" >/dev/null
        wall >>"$out/on"
        taskset -c 1 "$mogec" run "$@" -o "$out" --no-model >/dev/null
        wall >>"$out/off"
        i=$((i + 1))
    done
    on=$(median <"$out/on")
    off=$(median <"$out/off")
    echo "$name: traced $on us, untraced $off us, ratio $(echo "$on $off" | awk '{ printf "%.2f", $1 / $2 }')"
}
case_ "softmax_f32 N=1024 T=4096 (MOGE_EMU_CHECK=${MOGE_EMU_CHECK:-races})" \
    examples/src/softmax.rs --kernel softmax_f32 --set N=1024 --random 1 --dim T=4096
case_ "gemm 1024^3 bf16 (MOGE_EMU_CHECK=${MOGE_EMU_CHECK:-races})" \
    examples/src/matmul.rs --kernel gemm --set K=1024,N=1024 --random 1 --dim M=1024
