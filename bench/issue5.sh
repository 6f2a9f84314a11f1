#!/usr/bin/env bash
# Issue 5 measurement on the Qwen2-1.5B-shaped Q4_0 workload: convert vs cp (time, CPU, peak RSS and anonymous
# memory), then prefill/decode vs llama.cpp in one process (gguf2qnn bench --vs llamacpp).
#
#   bench/issue5.sh [WORKDIR]        (default /tmp/issue5; needs ~3.5 GB free; the workload is never committed)
#
# Environment: ROUNDS (alternating cp/convert rounds, default 5), BENCH_REPS (bench -r, default 3), BENCH_ROUNDS (how many
# times the bench below runs, default 1), KERNELS_AB=1 (each bench round also with --kernels onnxruntime), THREADS (default 2),
# COLD=1 (also time cp and convert after dropping the page cache: needs root, slows every other process down a
# little), LLAMACPP_MIX=1 (the benches again on make-workload --llamacpp-q4_0: output.weight Q6_K), HUGEPAGES_AB=1 (also run bench once with GLIBC_TUNABLES=glibc.malloc.hugetlb=1), GGUF2QNN (the binary; default: the Release build).
# Build first: dotnet build Gguf2Qnn.sln -c Release
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${GGUF2QNN:-$ROOT/src/Gguf2Qnn.Cli/bin/Release/net10.0/gguf2qnn}
DIR=${1:-/tmp/issue5}
ROUNDS=${ROUNDS:-5}
REPS=${BENCH_REPS:-3}
THREADS=${THREADS:-2}
mkdir -p "$DIR"
W=$DIR/w.gguf
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "== machine: $(lscpu | sed -n 's/^Model name:[ ]*//p'), $(nproc) CPUs; $(uname -r); $(date -u +%FT%TZ); commit $(git -C "$ROOT" rev-parse --short HEAD)"
echo "== load average before: $(load)"
if [ ! -f "$W" ]; then
  "$BIN" make-workload -o "$W" >/dev/null
fi
echo "== workload $W: $(stat -c %s "$W") bytes"

# Runs "$@" under /usr/bin/time, polls VmRSS/RssAnon every 20 ms; prints one line.
measure() {
  local label=$1; shift
  local tf; tf=$(mktemp)
  /usr/bin/time -f "%e %U %S %M" -o "$tf" "$@" >/dev/null 2>"$tf.err" &
  local tpid=$! anon=0 pid a
  while kill -0 $tpid 2>/dev/null; do
    for pid in $(pgrep -P $tpid 2>/dev/null); do
      a=$(awk '/^RssAnon/ {print $2}' /proc/$pid/status 2>/dev/null || true)
      if [ -n "$a" ] && [ "$a" -gt "$anon" ]; then anon=$a; fi
    done
    sleep 0.02
  done
  wait $tpid || { echo "$label failed:"; cat "$tf.err"; exit 1; }
  read -r wall user sys rss < "$tf"
  printf '%-14s wall %6.2f s  user %5.2f s  sys %5.2f s  peak RSS %5d MiB  peak anon %5d MiB  load %s\n' \
    "$label" "$wall" "$user" "$sys" $((rss / 1024)) $((anon / 1024)) "$(load)"
  rm -f "$tf" "$tf.err"
}

round() {
  local tag=$1
  if [ "$tag" = cold ]; then sync; echo 3 > /proc/sys/vm/drop_caches; else cat "$W" > /dev/null; fi
  rm -f "$DIR/copy.gguf"; sync
  measure "cp-$tag" cp "$W" "$DIR/copy.gguf"
  rm -f "$DIR/copy.gguf"; sync
  if [ "$tag" = cold ]; then echo 3 > /proc/sys/vm/drop_caches; else cat "$W" > /dev/null; fi
  rm -rf "$DIR/onnx"; sync
  measure "convert-$tag" "$BIN" convert "$W" -o "$DIR/onnx"
}

echo "== convert vs cp (same file system, sync before each, output removed before each; cp: coreutils, no fsync; convert: fsyncs its data file)"
for r in $(seq 1 "$ROUNDS"); do round warm; done
if [ "${COLD:-0}" = 1 ]; then for r in $(seq 1 "$ROUNDS"); do round cold; done; fi
echo "== model.onnx.data sha256 $(sha256sum "$DIR/onnx/model.onnx.data" | cut -c1-16)… $(stat -c %s "$DIR/onnx/model.onnx.data") bytes"

BENCH_ROUNDS=${BENCH_ROUNDS:-1}
# bench_rounds LABEL ONNX_DIR GGUF: BENCH_ROUNDS side-by-side benches of one folder (and with KERNELS_AB=1 each again on MLAS).
bench_rounds() {
  for r in $(seq 1 "$BENCH_ROUNDS"); do
    echo "== $1, kernels auto (gguf2qnn's Q4_0 and Q6_K kernels where the CPU has AVX-512BW) (load $(load))"
    "$BIN" bench "$2" --gguf "$3" -p 128 -n 64 -t "$THREADS" -r "$REPS" --vs llamacpp
    if [ "${KERNELS_AB:-0}" = 1 ]; then
      echo "== $1, --kernels onnxruntime (MLAS MatMulNBits) (load $(load))"
      "$BIN" bench "$2" --gguf "$3" -p 128 -n 64 -t "$THREADS" -r "$REPS" --vs llamacpp --kernels onnxruntime
    fi
  done
}
bench_rounds bench "$DIR/onnx" "$W"
if [ "${LLAMACPP_MIX:-0}" = 1 ]; then
  # llama.cpp's own Q4_0 mix (output.weight Q6_K, as llama-quantize writes the founding file), same benches.
  WQ=$DIR/wq.gguf
  [ -f "$WQ" ] || "$BIN" make-workload -o "$WQ" --llamacpp-q4_0 >/dev/null
  rm -rf "$DIR/onnxq"; "$BIN" convert "$WQ" -o "$DIR/onnxq" >/dev/null
  bench_rounds "llama.cpp's Q4_0 mix ($(stat -c %s "$WQ") bytes)" "$DIR/onnxq" "$WQ"
fi
if [ "${HUGEPAGES_AB:-0}" = 1 ]; then
  echo "== bench with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (load $(load))"
  GLIBC_TUNABLES=glibc.malloc.hugetlb=1 "$BIN" bench "$DIR/onnx" --gguf "$W" -p 128 -n 64 -t "$THREADS" -r "$REPS" --vs llamacpp
fi
echo "== load average after: $(load)"
