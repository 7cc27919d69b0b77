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
