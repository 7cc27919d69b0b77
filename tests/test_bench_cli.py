"""`mixtrain bench`: the bound-pass CLI reports throughput for both engines; the op cases match the models."""
import json
import os
import subprocess
import sys

import pytest
import torch


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


def test_bench_bounds_cli_fused_only_with_fixed_repeats(tmp_path):
    out = tmp_path / "b.json"
    proc = subprocess.run([sys.executable, "-m", "mixtrain_cuda", "bench", "--bounds", "--quick", "--only",
                           "mnist_small ibp", "--no-reference", "--repeats", "2", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    row, = json.loads(out.read_text())["rows"]
    assert row["repeats"] == 2 and row["fused_fwd_points_per_s"] > 0 and "reference_fwd_s" not in row
    bad = subprocess.run([sys.executable, "-m", "mixtrain_cuda", "bench", "--bounds", "--repeats", "0"],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "--repeats must be at least 1" in bad.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak resident size from /proc")
def test_peak_bytes_sees_a_large_allocation():
    import torch

    from mixtrain_cuda.bench import peak_bytes

    small = peak_bytes(lambda: torch.ones(1000).sum())
    big = peak_bytes(lambda: torch.ones(64 << 20).sum())  # 256 MiB, touched
    assert big >= 200 << 20, big
    assert small < 32 << 20, small


def test_conv_cases_are_the_models_layers():
    """The IBP convolution cases are read off the MixTrain models, so a model
    change moves the benchmark with it (an earlier hand-written list had
    drifted: a 64-channel stem for a 32-channel model, unpadded 26x26 maps)."""
    import torch.nn as nn

    from mixtrain_cuda import bench, models
    layers = bench.conv_layers()
    specs = {spec[:6] for spec in layers}
    assert len(specs) == len(layers)  # distinct
    for net, ch, side in bench.MIXTRAIN_NETS:
        model = getattr(models, net)()
        seen = []
        hooks = [m.register_forward_hook(lambda m, i, o: seen.append((m.in_channels, i[0].shape[-1], m.out_channels,
                                                                       m.kernel_size[0], m.stride[0], m.padding[0])))
                 for m in model.modules() if isinstance(m, nn.Conv2d)]
        model(torch.zeros(1, ch, side, side))
        for h in hooks:
            h.remove()
        assert seen and set(seen) <= specs
    assert (3, 64, 32, 7, 2, 3) in specs  # the ImageNet-200 stem, as the model has it
    assert [spec[6] for spec in bench.conv_picks()] == bench.CONV_PICKS
    names = [c.name for c in bench.cases("cpu") if c.op == "interval_conv2d"]
    assert len(names) == 2 * len(layers)


def test_bench_times_the_fused_relu_conv_step_where_the_engine_fuses():
    """`mixtrain bench` has a crown_relu_conv2d_backward case for every
    convolution of the plain MixTrain nets that a ReLU reads directly (none of
    the residual nets', where a BatchNorm comes between), and each case's two
    sides compute the same step."""
    from mixtrain_cuda import bench
    got = [c for c in bench.cases("cpu") if c.op == "crown_relu_conv2d_backward"]
    want = [spec[6] for spec in bench.conv_layers() if "resnet" not in spec[6]]
    assert [c.name.split()[1] for c in got] == want and want
    for case in got[:2]:
        for a, b in zip(case.fused(), case.ref()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-3)


def test_bench_train_step_script_times_each_variant(tmp_path):
    """scripts/bench_train_step.py: a clean step, then MixTrain (k points in the
    bound pass) and full-batch for each method, each with a positive rate."""
    out = tmp_path / "s.json"
    script = os.path.join(os.path.dirname(__file__), "..", "scripts", "bench_train_step.py")
    proc = subprocess.run([sys.executable, script, "--model", "mnist_small", "--batch", "6", "--k", "2", "--steps", "1",
                           "--methods", "ibp,crown-ibp", "--json", str(out)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [(r["variant"], r["method"], r["bound_points"]) for r in rows] == [
        ("clean", None, 0), ("mixtrain", "ibp", 2), ("full-batch", "ibp", 6),
        ("mixtrain", "crown-ibp", 2), ("full-batch", "crown-ibp", 6)]
    assert all(r["images_per_s"] > 0 for r in rows)
    bad = subprocess.run([sys.executable, script, "--batch", "4", "--k", "5"], capture_output=True, text=True)
    assert bad.returncode != 0 and "--k must be in" in bad.stderr


def test_results_name_the_commit_given_by_the_caller(monkeypatch):
    """On the GPU device the tree's copy carries an older .git: the caller's
    MIXTRAIN_COMMIT wins over `git rev-parse HEAD` there."""
    from mixtrain_cuda.cli import git_commit
    monkeypatch.setenv("MIXTRAIN_COMMIT", "0123abc")
    assert git_commit() == "0123abc"
    monkeypatch.delenv("MIXTRAIN_COMMIT")
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    if head:  # a git checkout: HEAD, marked when tracked files differ from it
        assert git_commit() in (head, head + "-dirty")


BENCHMARKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks")


def _run_script(name, *args, env=None):
    """benchmarks/<name> in a fresh interpreter; the CompletedProcess."""
    return subprocess.run([sys.executable, os.path.join(BENCHMARKS, name), *map(str, args)], capture_output=True,
                          text=True, timeout=600, env=env)


def _record(name, out, *args):
    """Runs benchmarks/<name> with --json OUT and returns the JSON record."""
    proc = _run_script(name, *args, "--json", out)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


def test_cpu_conv_paths_times_both_paths(tmp_path):
    row, = _record("cpu_conv_paths.py", tmp_path / "p.json", "--only", "mnist_small.conv1", "--batches", "1",
                   "--rounds", "1")["rows"]
    assert row["layer"] == "mnist_small.conv1" and row["batch"] == 1 and row["layout"] == "nchw"
    assert all(row[k] > 0 for k in ("direct_s", "onednn_s", "auto_s", "reference_s"))
    assert row["winograd_s"] > 0  # a 4x4 stride-2 layer: Winograd over its stride phases
    row, = _record("cpu_conv_paths.py", tmp_path / "w.json", "--only", "cifar_resnet.conv7", "--batches", "1",
                   "--rounds", "1", "--channels-last")["rows"]
    assert row["winograd_s"] is None  # 3x3 stride 2: no Winograd path
    assert row["layout"] == "channels_last" and row["direct_s"] > 0 and row["reference_s"] > 0
    row, = _record("cpu_conv_paths.py", tmp_path / "t.json", "--only", "cifar_resnet.conv5", "--batches", "1",
                   "--rounds", "1", "--tile-ab")["rows"]
    assert row["winograd_f23_s"] > 0 and row["winograd_f43_s"] > 0  # 3x3 stride 1: both tile sizes
    bad = _run_script("cpu_conv_paths.py", "--only", "mnist_small.conv1",
                      env=dict(os.environ, MIXTRAIN_CPU_CONV="direct"))
    assert bad.returncode == 2 and "unset MIXTRAIN_CPU_CONV" in bad.stderr


@pytest.mark.parametrize("switch, method", [("winograd", "ibp"), ("relu-conv", "crown-ibp"), ("conv-panels", "ibp"),
                                            ("winograd-f43", "ibp")])
def test_pass_ab_times_both_sides(switch, method, tmp_path):
    """benchmarks/pass_ab.py: one small case, both sides timed, the same
    bounds up to rounding (each side is a sound bound of the same net)."""
    row, = _record("pass_ab.py", tmp_path / "w.json", "--switch", switch, "--nets", "cifar_large", "--methods",
                   method, "--ks", "2", "--passes", "2")["rows"]
    assert row["with_s"] > 0 and row["without_s"] > 0 and row["passes"] == 2 and row["switch"] == switch
    assert row["max_bound_difference"] <= 1e-5 * row["bound_scale"]  # float32 rounding
    bad = _run_script("pass_ab.py", "--passes", "0")
    assert bad.returncode == 2 and "--passes must be at least 1" in bad.stderr


def test_peer_auto_lirpa_times_three_engines(tmp_path):
    """benchmarks/peer_auto_lirpa.py: one tiny case, all three engines timed,
    and the bounds it compares agree with auto_LiRPA's."""
    lirpa = os.environ.get("MIXTRAIN_AUTO_LIRPA", os.path.join(BENCHMARKS, "..", ".auto_lirpa"))
    if not os.path.isdir(os.path.join(lirpa, "auto_LiRPA")):
        if os.environ.get("MIXTRAIN_AUTO_LIRPA"):
            raise AssertionError("MIXTRAIN_AUTO_LIRPA=%s holds no auto_LiRPA" % lirpa)
        pytest.skip("auto_LiRPA not installed (bash scripts/setup_auto_lirpa.sh)")
    data = _record("peer_auto_lirpa.py", tmp_path / "peer.json", "--nets", "mnist_small", "--ks", "2", "--methods",
                   "ibp", "--rounds", "1", "--budget", "0.05", "--auto-lirpa", lirpa)
    row, = data["rows"]
    assert (row["net"], row["method"], row["k"]) == ("mnist_small", "ibp", 2)
    assert all(row[e + "_s"] > 0 for e in ("fused", "reference", "auto_lirpa"))
    assert len(row["fused_vs_auto_lirpa_round_ratios"]) == 1 and row["fused_vs_auto_lirpa_round_ratios"][0] == \
        pytest.approx(row["auto_lirpa_s"] / row["fused_s"])  # one round: its ratio is the medians'
    assert row["max_bound_difference"] <= 1e-4 * row["bound_scale"]
    assert data["cpu_allocator"]["why"]
    bad = _run_script("peer_auto_lirpa.py", "--nets", "mnist_tiny")
    assert bad.returncode == 2 and "unknown network" in bad.stderr


def test_cpu_page_faults_script(tmp_path):
    """benchmarks/cpu_page_faults.py: both malloc modes in fresh processes; tuned, a pass takes (almost) no faults."""
    rows = _record("cpu_page_faults.py", tmp_path / "faults.json", "--nets", "mnist_small", "--batch", "16",
                   "--calls", "5")["rows"]
    assert [r["malloc"] for r in rows] == ["default", "tuned"]
    tuned = rows[1]
    assert tuned["allocator"]["tuned"] is True
    assert tuned["fused_faults_per_call"] < 100 and tuned["reference_faults_per_call"] < 100
    assert all(r["fused_s"] > 0 and r["reference_s"] > 0 for r in rows)


def test_layer_times_script_times_every_step_of_a_pass(tmp_path):
    """benchmarks/layer_times.py: every layer step of a CROWN-IBP pass is timed (forward ibp and
    backward of each Conv2d/Linear/ReLU; on the CPU a ReLU's and its convolution's steps as one,
    Conv2d.backward_with), and the step times fit within the pass."""
    rows = _record("layer_times.py", tmp_path / "t.json", "--networks", "mnist_small", "--methods", "crown-ibp",
                   "--ks", "2", "--repeats", "2")["rows"]
    row, = rows
    assert (row["network"], row["method"], row["k"], row["engine"]) == ("mnist_small", "crown-ibp", 2, "fused")
    steps = {(s["layer"], s["kind"], s["step"]) for s in row["steps"]}
    kinds = {(kind, step) for _, kind, step in steps}
    assert {("Conv2d", "ibp"), ("Conv2d", "backward_with"), ("ReLU", "ibp"), ("ReLU", "backward"),
            ("Linear", "backward")} <= kinds
    assert all(s["ms"] > 0 for s in row["steps"])
    assert sum(s["ms"] for s in row["steps"]) <= row["pass_ms"] * 1.5  # medians of parts vs the median pass
    assert any("Conv2d(1, 16" in s["module"] for s in row["steps"])
    bad = _run_script("layer_times.py", "--networks", "mnist_tiny")
    assert bad.returncode == 2 and "unknown network" in bad.stderr
    nchw, = _record("layer_times.py", tmp_path / "n.json", "--networks", "mnist_small", "--methods", "ibp",
                    "--ks", "2", "--repeats", "1", "--nchw-boxes")["rows"]
    assert nchw["engine"] == "fused, NCHW boxes" and all(s["ms"] > 0 for s in nchw["steps"])
    bad = _run_script("layer_times.py", "--reference", "--nchw-boxes")
    assert bad.returncode == 2 and "--nchw-boxes" in bad.stderr
    # --compare: both engines from one process, the same steps timed in each.
    fused, ref = _record("layer_times.py", tmp_path / "c.json", "--networks", "mnist_small", "--methods", "ibp",
                         "--ks", "2", "--repeats", "1", "--compare")["rows"]
    assert (fused["engine"], ref["engine"]) == ("fused", "reference") and fused["compared"] and ref["compared"]
    assert {(s["layer"], s["step"]) for s in fused["steps"]} == {(s["layer"], s["step"]) for s in ref["steps"]}
    assert all(s["ms"] > 0 for s in fused["steps"] + ref["steps"])
    bad = _run_script("layer_times.py", "--reference", "--compare")
    assert bad.returncode == 2 and "--compare" in bad.stderr


def test_layer_timer_restores_the_layer_classes():
    import importlib.util
    spec = importlib.util.spec_from_file_location("layer_times", os.path.join(BENCHMARKS, "layer_times.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from mixtrain_cuda.bounds.layers import Conv2d
    before = Conv2d.__dict__["backward"]
    with mod.StepTimer("cpu"):
        assert Conv2d.__dict__["backward"] is not before
    assert Conv2d.__dict__["backward"] is before
