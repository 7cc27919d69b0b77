"""The `mixtrain` command line (also `python -m mixtrain_cuda`).

Subcommands: `train` (MixTrain and its baselines), `certify` and `attack` (a
trained checkpoint), `bench` (the fused ops, or whole bound passes with
--bounds, against their pure-PyTorch reference) and `info` (how the library
was built).
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

import torch

from .cpu_allocator import cpu_allocator_state, tune_cpu_allocator


def device_name(device):
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return "%s (%d threads)" % (line.split(":", 1)[1].strip(), torch.get_num_threads())
    except OSError:
        pass
    return platform.processor() or "cpu"


def git_commit():
    """The commit of the code that runs: MIXTRAIN_COMMIT if set (a copy of the
    tree without its own history, as on the GPU device, whose copy carries an
    older .git), else HEAD, with "-dirty" when tracked files differ from it."""
    if os.environ.get("MIXTRAIN_COMMIT"):
        return os.environ["MIXTRAIN_COMMIT"]
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], cwd=here, capture_output=True).returncode
        return head + ("-dirty" if dirty == 1 else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def cmd_info(args):
    from . import build_info
    print(json.dumps(build_info(), indent=2))
    return 0


def cmd_bench(args):
    from . import bench, build_info
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("mixtrain bench: --device %s asked for, but no CUDA GPU is visible" % args.device, file=sys.stderr)
        return 2
    if args.repeats is not None and args.repeats < 1:
        print("mixtrain bench: --repeats must be at least 1, got %d" % args.repeats, file=sys.stderr)
        return 2
    if (args.no_reference or args.repeats is not None) and not args.bounds:
        print("mixtrain bench: --no-reference and --repeats apply to --bounds only", file=sys.stderr)
        return 2
    dtype = {"float32": torch.float32, "float64": torch.float64}[args.dtype]
    print("mixtrain bench on %s (%s), %s%s" % (args.device, device_name(args.device), args.dtype,
                                            ", quick" if args.quick else ""))

    def progress(i, n, name):
        print("  [%d/%d] %s" % (i + 1, n, name), file=sys.stderr, flush=True)

    def write_json(result):
        result = dict(result, device=device_name(args.device), device_kind=torch.device(args.device).type,
                      date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                      commit=git_commit(), dtype=args.dtype, build=build_info(), threads=torch.get_num_threads(),
                      cpu_allocator=cpu_allocator_state())
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)

    if args.bounds:
        from . import bench_bounds
        # Whole passes can take minutes: the JSON is rewritten after each case.
        result = bench_bounds.run(args.device, quick=args.quick, only=args.only, progress=progress,
                                  on_row=write_json if args.json else None, reference=not args.no_reference,
                                  repeats=args.repeats)
        print(bench_bounds.format_table(result))
    else:
        result = bench.run(args.device, dtype, quick=args.quick, compiled_reference=args.compiled_reference,
                           progress=progress, only=args.only)
        print(bench.format_table(result))
    if args.json:
        write_json(result)
        print("wrote", args.json)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="mixtrain", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="how the library was built and which kernels are registered")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("bench", help="time the fused ops against the pure-PyTorch reference")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: cpu)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--quick", action="store_true", help="a few cases only (the demo)")
    p.add_argument("--compiled-reference", action="store_true", help="also time torch.compile(reference)")
    p.add_argument("--bounds", action="store_true",
                   help="time whole bound passes (points/s of each method on the MixTrain nets and CNN7, fused vs "
                        "the pure-PyTorch engine) instead of single ops; float32")
    p.add_argument("--only", metavar="TEXT", help="only the cases whose name contains TEXT (e.g. interval_conv2d); "
                   "with --bounds, a comma-separated list of \"network method\" substrings")
    p.add_argument("--no-reference", action="store_true",
                   help="with --bounds: time the fused engine only (passes that take many seconds)")
    p.add_argument("--repeats", type=int, metavar="N",
                   help="with --bounds: N timed repeats per figure (default: as many as fit 2 s, at least 3); on "
                        "CUDA each repeat is a batch of back-to-back calls of about 2 ms, one call for passes "
                        "longer than that")
    p.add_argument("--json", metavar="PATH", help="also write the results (with device, date, commit) as JSON")
    p.set_defaults(func=cmd_bench)
    from .cli_train import add_eval_parsers, add_train_parser
    add_train_parser(sub)
    add_eval_parsers(sub)
    args = parser.parse_args(argv)
    # Every subcommand runs bound passes or training: keep freed heap pages
    # (mixtrain_cuda/cpu_allocator.py: 30-50% of a CPU bound pass was page faults).
    tune_cpu_allocator()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
