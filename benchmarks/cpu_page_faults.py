"""Page faults and time of no-grad IBP bound passes on the CPU, with glibc's
malloc defaults and with `tune_cpu_allocator()` (mixtrain_cuda/cpu_allocator.py),
each in a fresh process (the allocator's state is per process), fused engine then
reference engine.

    .venv/bin/python benchmarks/cpu_page_faults.py [--nets mnist_small,mnist_large,cifar_large]
        [--batch 64] [--calls 100] [--json PATH]

Minor page faults from getrusage over `--calls` passes after 5 warm-up calls;
the time is their median.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

_CHILD = r"""
import json, resource, statistics, sys, time
import torch
import mixtrain_cuda as mc
from mixtrain_cuda.bounds import BoundedModule, margin_spec
from mixtrain_cuda.models import INPUT_SHAPES, NUM_CLASSES, get_model
net, batch, calls, tune = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "tuned"
state = mc.tune_cpu_allocator() if tune else None
torch.manual_seed(0)
model = get_model(net).eval()
x = torch.rand(batch, *INPUT_SHAPES[net])
C = margin_spec(torch.randint(0, NUM_CLASSES[net], (batch,)), NUM_CLASSES[net])
eps = 0.1 if net.startswith("mnist") else 2.0 / 255
out = dict(allocator=state)
for engine in ("fused", "reference"):
    bm = BoundedModule(model, reference=engine == "reference")
    def run():
        with torch.no_grad():
            bm.compute_bounds(x, eps, "ibp", C=C)
    for _ in range(5):
        run()
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    out[engine + "_faults_per_call"] = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / calls
    out[engine + "_s"] = statistics.median(times)
print(json.dumps(out))
"""


def measure(net, batch, calls, mode):
    env = dict(os.environ)
    for k in [k for k in env if k.startswith("MALLOC_")]:
        del env[k]
    env.pop("MIXTRAIN_MALLOC", None)
    proc = subprocess.run([sys.executable, "-c", _CHILD, net, str(batch), str(calls), mode], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit("child failed:\n" + proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    from mixtrain_cuda import bench
    from mixtrain_cuda.models import INPUT_SHAPES
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nets", default="mnist_small,mnist_large,cifar_large")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    nets = [n.strip() for n in a.nets.split(",") if n.strip()]
    unknown = [n for n in nets if n not in INPUT_SHAPES]
    if unknown:
        ap.error("unknown network(s) %s" % ", ".join(unknown))
    if a.batch < 1 or a.calls < 1:
        ap.error("--batch and --calls must be at least 1")
    rows = []
    print("%-12s %-8s %14s %10s %14s %10s" % ("network", "malloc", "fused faults", "fused ms", "ref faults", "ref ms"))
    for net in nets:
        for mode in ("default", "tuned"):
            r = dict(net=net, batch=a.batch, calls=a.calls, malloc=mode, **measure(net, a.batch, a.calls, mode))
            rows.append(r)
            print("%-12s %-8s %14.0f %10.2f %14.0f %10.2f" % (net, mode, r["fused_faults_per_call"], r["fused_s"] * 1e3,
                                                           r["reference_faults_per_call"], r["reference_s"] * 1e3),
                  flush=True)
    if a.json:
        bench.write_cpu_record(a.json, "benchmarks/cpu_page_faults.py", argv if argv is not None else sys.argv[1:],
                               "each mode in a fresh process; median of --calls no-grad IBP passes after 5 warm-up "
                               "calls, minor faults from getrusage", rows)
        print("wrote", a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
