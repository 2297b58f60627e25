#!/usr/bin/env bash
# Training speed side by side: the tutorial CNN at batch 64 with Adam on 2 threads, one epoch after
# another, in PyTorch (Debian's python3-torch, ../shared/peers/torch_mnist.py) and in digitcam.
# Prints both medians and the ratio. Usage: tools/compare-torch.sh [EPOCHS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-3}
threads=${2:-2}
peer=../shared/peers/torch_mnist.py
[ -f "$peer" ] || { echo "compare-torch: $peer not found (the PyTorch baseline lives in shared/peers)" >&2; exit 1; }
[ -x build/digitcam ] || { echo "compare-torch: build/digitcam missing; build first (see README)" >&2; exit 1; }
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "compare-torch: installing python3-torch and libopenblas0-openmp (Debian)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-torch libopenblas0-openmp >/dev/null
fi
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
echo "== PyTorch $epochs epochs, batch 64, $threads threads" >&2
/usr/bin/python3 "$peer" --mnist data/mnist --batch 64 --epochs "$epochs" --threads "$threads" | tee "$log/torch.txt" >&2
echo "== digitcam $epochs epochs, batch 64, $threads threads" >&2
build/digitcam train --arch tutorial --batch 64 --optimizer adam --schedule constant --lr 1e-3 \
  --weight-decay 0 --augment none --validation 0 --no-negatives --epochs "$epochs" --threads "$threads" \
  --no-checkpoint --output "$log/tutorial.onnx" 2>&1 | tee "$log/digitcam.txt" | grep -E '^epoch [0-9]+/[0-9]+:|test ' >&2
torch_s=$(sed -n 's/.*median_s_per_epoch=\([0-9.]*\).*/\1/p' "$log/torch.txt")
ours_s=$(sed -n 's/^epoch [0-9]*\/[0-9]*:.* \([0-9.]*\) s (.*/\1/p' "$log/digitcam.txt" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
awk -v t="$torch_s" -v o="$ours_s" 'BEGIN { printf "RESULT torch_median_s=%.2f digitcam_median_s=%.2f ratio=%.2f\n", t, o, o / t }'
