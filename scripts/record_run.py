"""Copies a finished training run's numbers into benchmarks/results/ (a run
that is not in the repo did not happen). Usage:

    .venv/bin/python scripts/record_run.py RUN_DIR NAME "the command that made it" [--device-name NAME] [--commit SHA]

Writes benchmarks/results/NAME.json: device, date, commit, command, summary,
per-epoch metrics. A run made on another machine (the GPU device) names its
device and the commit it ran with explicitly: this machine may have no GPU to
ask, and its HEAD may have moved on.
"""
import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from mixtrain_cuda.cli import device_name, git_commit  # noqa: E402


def main(run_dir, name, command, device_label=None, commit=None):
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    rows = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl")) if line.strip()]
    device = summary["config"].get("device", "cpu")
    record = {"device": device_label or device_name(device), "device_kind": device.split(":")[0],
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "commit": commit or summary.get("code_commit") or git_commit(), "command": command, "summary": summary, "epochs": rows}
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks", "results", name + ".json")
    with open(out, "w") as f:
        json.dump(record, f, indent=1)
    print("wrote", os.path.normpath(out))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir")
    p.add_argument("name")
    p.add_argument("command")
    p.add_argument("--device-name", help="the device the run used (default: ask this machine)")
    p.add_argument("--commit", help="the commit the run used (default: the one its summary.json names, which "
                                    "training records at its start, else this checkout's HEAD)")
    a = p.parse_args()
    main(a.run_dir, a.name, a.command, a.device_name, a.commit)
