"""`mixtrain bench --bounds` runs and reports throughput for both engines."""
import json
import subprocess
import sys

import pytest


def test_bench_bounds_cli_writes_points_per_second(tmp_path):
    out = tmp_path / "b.json"
    proc = subprocess.run([sys.executable, "-m", "mixtrain_cuda", "bench", "--bounds", "--quick", "--only",
                           "mnist_small ibp", "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "mnist_small" in proc.stdout and "ibp" in proc.stdout
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 1 and rows[0]["method"] == "ibp"
    for key in ("fused_fwd", "fused_fwd_bwd", "reference_fwd", "reference_fwd_bwd"):
        assert rows[0][key + "_points_per_s"] > 0
        if sys.platform.startswith("linux"):  # peak resident size, read from /proc
            assert rows[0][key + "_peak_bytes"] is not None and rows[0][key + "_peak_bytes"] >= 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak resident size from /proc")
def test_peak_bytes_sees_a_large_allocation():
    import torch

    from mixtrain_cuda.bench import peak_bytes

    small = peak_bytes(lambda: torch.ones(1000).sum())
    big = peak_bytes(lambda: torch.ones(64 << 20).sum())  # 256 MiB, touched
    assert big >= 200 << 20, big
    assert small < 32 << 20, small
