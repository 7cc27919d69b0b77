#!/usr/bin/env bash
# The test command: set everything up, build the CMake library too, run pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup_auto_lirpa.sh
export MIXTRAIN_AUTO_LIRPA="$PWD/.auto_lirpa"
bash scripts/build_cmake.sh build-cmake > build-cmake.log 2>&1 || { tail -40 build-cmake.log; exit 1; }
export MIXTRAIN_CMAKE_LIB="$PWD/build-cmake/libmixtrain_ops.so"
# A CUDA torch plus nvcc means the CUDA kernels must have been built.
if [ "${USE_CUDA:-1}" != 0 ] && [ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ] &&
   [ "$(.venv/bin/python -c 'import torch; print(torch.version.cuda is not None)')" = True ]; then
  export MIXTRAIN_EXPECT_CUDA=1
fi
exec .venv/bin/python -m pytest tests -q "$@"
