#!/bin/bash
# The long-run check at full length: digitcam reads a live MJPEG stream that ffmpeg serves from
# the sample video, looped, on 127.0.0.1, for SECONDS (default 1800, 30 minutes). After a warm-up
# of a quarter of the run, resident memory must grow by less than 5% and the count of open file
# descriptors (/proc/<pid>/fd) must not grow. CI runs the same test for 40 s (ctest -L soak).
#
#   tools/soak.sh [SECONDS]     (after a build in build/, or DIGITCAM_TEST_BUILD=DIR)
#
# Prints the figures ("soak 1800 s: N frames; resident A KiB after W s warm-up, B KiB at the
# end ...; descriptors X -> Y") and exits non-zero when a bound is broken.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${DIGITCAM_TEST_BUILD:-$repo/build}
seconds=${1:-1800}
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: tools/soak.sh [SECONDS]" >&2; exit 2; }
cd "$repo"
DIGITCAM_SOAK_SECONDS=$seconds exec "$build/tests/test_app" "--test-case=soak:*"
