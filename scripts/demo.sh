#!/usr/bin/env bash
# The main job (for now): set up, then time the fused ops against the
# pure-PyTorch reference at MixTrain's shapes. The training issue replaces it
# with a real MixTrain run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m mixtrain_cuda bench --quick "$@"
