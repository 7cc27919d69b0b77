"""`mixtrain bench --bounds` runs and reports throughput for both engines."""
import json
import subprocess
import sys


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
