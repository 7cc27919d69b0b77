#!/usr/bin/env bash
# auto_LiRPA 0.3 (the only version on PyPI) into .auto_lirpa/, an independent
# implementation the bound engine's IBP and CROWN-IBP are compared with
# (tests/bounds/test_auto_lirpa.py). Installed beside the venv, not into it,
# with --no-deps so torch and numpy stay as they are, and patched for torch 2.x
# and numpy 2.x: tests/bounds/auto_lirpa_0.3.patch only replaces APIs those
# releases removed; no bound computation changes.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.auto_lirpa
if PYTHONPATH=$DEST .venv/bin/python -c "import auto_LiRPA" 2>/dev/null; then exit 0; fi
rm -rf "$DEST"
.venv/bin/python -m pip install -q --no-deps --target "$DEST" auto_LiRPA==0.3 appdirs==1.4.4 tqdm
patch -s -p1 -N -d "$DEST" < tests/bounds/auto_lirpa_0.3.patch
PYTHONPATH=$DEST .venv/bin/python -c "import auto_LiRPA" 2>/dev/null
echo "== auto_LiRPA 0.3 (patched) in $DEST"
