#!/usr/bin/env bash
# Builds libmixtrain_ops.so with CMake against the libtorch of the Python in
# use (default: .venv/bin/python). Usage: scripts/build_cmake.sh [BUILD_DIR] [extra cmake args]
#   MIXTRAIN_WITH_CUDA=ON scripts/build_cmake.sh   # also the CUDA kernels
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
BUILD_DIR=${1:-build-cmake}
shift || true
CMAKE=$(command -v cmake || true)
[ -x .venv/bin/cmake ] && CMAKE=.venv/bin/cmake
TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
args=(-DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DMIXTRAIN_WITH_CUDA="${MIXTRAIN_WITH_CUDA:-OFF}")
if [ "$("$PY" -c 'import torch; print(torch.version.cuda is not None)')" = True ]; then
  # A CUDA torch's CMake config looks for the toolkit and for libnvrtc, which
  # ships in the nvidia-* wheels rather than in the toolkit folder.
  CUDA_ROOT=${CUDA_HOME:-/usr/local/cuda}
  args+=(-DCUDA_TOOLKIT_ROOT_DIR="$CUDA_ROOT" -DCUDAToolkit_ROOT="$CUDA_ROOT" -DCMAKE_CUDA_COMPILER="$CUDA_ROOT/bin/nvcc")
  NVRTC=$("$PY" - <<'PYEOF'
import glob, os, sys
for site in sys.path:
    hits = sorted(glob.glob(os.path.join(site, "nvidia", "*", "lib", "libnvrtc.so*")))
    hits = [h for h in hits if "builtins" not in h and ".alt." not in h]
    if hits:
        print(hits[0]); break
PYEOF
)
  [ -n "$NVRTC" ] && args+=(-DCUDA_nvrtc_LIBRARY="$NVRTC")
fi
"$CMAKE" -S . -B "$BUILD_DIR" "${args[@]}" "$@"
"$CMAKE" --build "$BUILD_DIR" -j"${MAX_JOBS:-2}"
echo "built $BUILD_DIR/libmixtrain_ops.so"
