#!/bin/bash
# The whole test suite, as CI runs it (.ci/run: tools/setup.sh && tools/test.sh):
#
#   1. release build in build/ and every test (ctest);
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/ and every test, the
#      end-to-end tests running the sanitized digitcam binary too;
#   3. ThreadSanitizer build in build-tsan/ and the tests of the threads' handoffs (ctest label
#      "threads": the live sources' capture thread, run's prefetch thread, the TBB-parallel
#      engine parts).
#
# Any sanitizer report fails its step (halt_on_error, -fno-sanitize-recover). Stops at the first
# failing step with its exit status. Options: --quick runs step 1 only. Build folders can be
# moved with DIGITCAM_TEST_BUILD=DIR (then DIR, DIR-asan, DIR-tsan). Each step's time goes to
# stderr as "test.sh: step N ... took S s".
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
build=${DIGITCAM_TEST_BUILD:-build}
quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown option: $arg" >&2; exit 2 ;;
  esac
done

started=$SECONDS
step() {  # [targets=...] step N TITLE BUILD_DIR SANITIZE CTEST_ARGS...
  local n=$1 title=$2 dir=$3 sanitize=$4 t0=$SECONDS targets=${targets:-}
  shift 4
  echo "test.sh: step $n: $title ($dir)" >&2
  cmake -S . -B "$dir" -G Ninja "-DDIGITCAM_SANITIZE=$sanitize"
  cmake --build "$dir" ${targets:+--target $targets}
  ctest --test-dir "$dir" --output-on-failure "$@"
  echo "test.sh: step $n ($title) took $((SECONDS - t0)) s" >&2
}

# 1. Today's suite, unchanged.
step 1 "release build and every test" "$build" ""

if [[ $quick -eq 0 ]]; then
  # A finding stops the process with a non-zero status, which fails the test that ran it.
  # The suppressions cover only third-party libraries: LeakSanitizer's their own allocations,
  # AddressSanitizer's its interceptors' reports inside them (see the files).
  export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:strict_string_checks=1:check_initialization_order=1:suppressions=$repo/tools/sanitizers/asan.supp"
  export LSAN_OPTIONS="suppressions=$repo/tools/sanitizers/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
  # OpenCV's gPhoto2 backend (tried when a camera index does not open with V4L2) autodetects
  # cameras through a USB port driver that libgphoto2 loads and unloads again, leaking a byte per
  # USB descriptor it read. Once unloaded, the driver's frames can be named by no suppression, so
  # that backend is turned off for the sanitized runs; V4L2, GStreamer and FFmpeg stay.
  export OPENCV_VIDEOIO_PRIORITY_GPHOTO2=0
  step 2 "AddressSanitizer+UndefinedBehaviorSanitizer build and every test" "$build-asan" \
    "address;undefined" --label-exclude soak --timeout 1800

  # TBB and OpenCV are not built with TSan, so their internal synchronisation is invisible to
  # it; the suppressions file names only their frames (see its comments).
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=7:suppressions=$repo/tools/sanitizers/tsan.supp:print_suppressions=0"
  targets="test_app test_engine" step 3 "ThreadSanitizer build and the thread-handoff tests" "$build-tsan" "thread" \
    -L threads --timeout 1800
fi
echo "test.sh: all steps passed in $((SECONDS - started)) s" >&2
