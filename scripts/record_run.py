"""Copies a finished training run's numbers into benchmarks/results/ (a run
that is not in the repo did not happen). Usage:

    .venv/bin/python scripts/record_run.py RUN_DIR NAME "the command that made it"

Writes benchmarks/results/NAME.json: device, date, commit, command, summary,
per-epoch metrics.
"""
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from mixtrain_cuda.cli import device_name, git_commit  # noqa: E402


def main(run_dir, name, command):
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    rows = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl")) if line.strip()]
    device = summary["config"].get("device", "cpu")
    record = {"device": device_name(device), "device_kind": device.split(":")[0],
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "commit": git_commit(), "command": command, "summary": summary, "epochs": rows}
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks", "results", name + ".json")
    with open(out, "w") as f:
        json.dump(record, f, indent=1)
    print("wrote", os.path.normpath(out))


if __name__ == "__main__":
    main(*sys.argv[1:4])
