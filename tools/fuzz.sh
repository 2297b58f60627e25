#!/bin/bash
# Builds the libFuzzer targets of fuzz/ (clang, AddressSanitizer + UndefinedBehaviorSanitizer)
# and runs one, or all in turn, for a given time each, one process at a time.
#
#   tools/fuzz.sh TARGET|all SECONDS
#
# TARGET: onnx (the ONNX loader), idx (the MNIST IDX reader), calibration (the calibration
# reader), image (a picture's way from bytes through decoding, segmentation and normalisation).
# The committed seeds in fuzz/corpus/TARGET/ are only read: what the fuzzer learns goes to
# BUILD/corpus/TARGET/, crashes to BUILD/artifacts/TARGET/. BUILD is build-fuzz, or
# $DIGITCAM_FUZZ_BUILD. A crash ends the run with exit status 1 and the input's path: commit the
# input under tests/fixtures/fuzz/ with a doctest that expects a clean error, then fix the code.
# Needs clang and libclang-rt-14-dev (libFuzzer), which tools/setup.sh installs.
#
# Prints, per target, libFuzzer's closing figures: "fuzz: onnx: 123456 runs in 600 s, ..."
set -euo pipefail

readonly TARGETS=(onnx idx calibration image)
# Largest input per target, bytes: past the seeds, longer inputs only slow the search down.
declare -rA MAX_LEN=([onnx]=32768 [idx]=8192 [calibration]=4096 [image]=16384)
# Memory a single input may take before libFuzzer calls it a finding (an absurd allocation).
readonly RSS_LIMIT_MB=2048

usage() {
  echo "usage: tools/fuzz.sh TARGET|all SECONDS   (TARGET: ${TARGETS[*]})"
}

if [[ $# -ne 2 || ! "$2" =~ ^[0-9]+$ ]]; then usage >&2; exit 2; fi
if [[ "$1" == all ]]; then
  targets=("${TARGETS[@]}")
elif [[ " ${TARGETS[*]} " == *" $1 "* ]]; then
  targets=("$1")
else
  echo "fuzz: unknown target '$1'" >&2; usage >&2; exit 2
fi
seconds=$2

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${DIGITCAM_FUZZ_BUILD:-$repo/build-fuzz}
command -v clang++ >/dev/null || { echo "fuzz: clang++ missing; run tools/setup.sh" >&2; exit 1; }

cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DDIGITCAM_FUZZ=ON \
  -DDIGITCAM_BUILD_TESTS=OFF "-DDIGITCAM_SANITIZE=address;undefined" >/dev/null
for t in "${targets[@]}"; do cmake --build "$build" --target "fuzz_$t"; done

# A finding must stop the fuzzer: UBSan reports become crashes, leaks count.
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1

status=0
for t in "${targets[@]}"; do
  corpus=$build/corpus/$t artifacts=$build/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  log=$build/fuzz-$t.log
  echo "fuzz: $t for $seconds s (log $log)" >&2
  if "$build/fuzz/fuzz_$t" "$corpus" "$repo/fuzz/corpus/$t" -max_total_time="$seconds" \
      -max_len="${MAX_LEN[$t]}" -rss_limit_mb=$RSS_LIMIT_MB -timeout=20 \
      -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -1 || true)
    echo "fuzz: $t: ${runs:-finished}, no crash; corpus $(ls "$corpus" | wc -l) inputs"
  else
    status=1
    echo "fuzz: $t: FINDING, see $log; inputs: $(ls "$artifacts" | tr '\n' ' ')"
    grep -m3 -E 'ERROR|runtime error|deadly signal|out-of-memory|timeout' "$log" || true
  fi
done
exit $status
