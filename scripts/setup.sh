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
if ! .venv/bin/python -c "import torch, ninja, pytest, pytest_benchmark, hypothesis, cmake" 2>/dev/null; then
  echo "== installing $TORCH_SPEC and the test tools"
  .venv/bin/pip install -q "$TORCH_SPEC" ninja cmake numpy pytest pytest-benchmark hypothesis
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
