#!/usr/bin/env bash
# Everything a GPU session checks, in one command (the device machines are
# bare, offline and lent by the minute): build for the visible GPU with the
# machine's own python3 and torch, run the whole test suite (the CUDA tests
# included), and time the ops on CUDA. Results go to $OUT (or ./gpu-out):
# commit the JSON to benchmarks/results/ and the table to benchmarks/README.md.
#   bash scripts/gpu_session.sh            # on the device machine
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
[ -z "${CUDA_HOME:-}" ] && [ -x /usr/local/cuda/bin/nvcc ] && export CUDA_HOME=/usr/local/cuda
ARCH=$("$PY" -c 'import torch; p = torch.cuda.get_device_capability(); print("%d.%d" % p)')
echo "== building for sm_${ARCH/./} (MAX_JOBS=${MAX_JOBS:-16})"
TORCH_CUDA_ARCH_LIST="$ARCH" FORCE_CUDA=1 MAX_JOBS=${MAX_JOBS:-16} "$PY" setup.py -q build_ext --inplace \
  > "$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; exit 1; }
"$PY" -m mixtrain_cuda info | tee "$OUT/build_info.json"
echo "== tests"
"$PY" -m pytest tests -q -x -p no:cacheprovider 2>&1 | tee "$OUT/tests.log" | tail -25
stamp=$(date -u +%Y-%m-%d)
gpu=$("$PY" -c 'import torch; print(torch.cuda.get_device_name().split()[1].lower())' 2>/dev/null || echo gpu)
echo "== benchmarks"
"$PY" -m mixtrain_cuda bench --device cuda --compiled-reference --json "$OUT/${gpu}-${stamp}.json" 2>/dev/null \
  | tee "$OUT/bench_cuda.txt"
"$PY" -m mixtrain_cuda bench --device cpu --json "$OUT/${gpu}-host-cpu-${stamp}.json" 2>/dev/null > /dev/null
echo "results in $OUT"
