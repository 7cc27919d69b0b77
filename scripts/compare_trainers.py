"""The issue's speed comparison: MixTrain against full-batch verifiable training
and PGD-40 adversarial training on the same data, network, epochs and seed,
all certified by the same certifier at the end. Usage:

    .venv/bin/python scripts/compare_trainers.py [--out runs/trainers] [extra `mixtrain train` args]

The extra arguments (data subset, epochs, eps schedule...) go to every run,
after its own flags, so they override them (`--k 5` also sets the symbolic
MixTrain run's k).
Writes OUT/<name>/ for each run and OUT/comparison.json (with device, date
and commit: copy it to benchmarks/results/), and prints a table of
the mean training time per epoch (training only: the per-epoch validation is
left out, it is the same work for every trainer) and its ratio to MixTrain's.
A run whose summary.json exists is not run again, so the script resumes.
"""
import datetime
import json
import os
import sys

from _runs import parse_out, run_or_load

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from mixtrain_cuda.cli import device_name, git_commit  # noqa: E402

# name -> the flags that make it. "mixtrain" is our default MixTrain (k = 20 of
# each batch of 100, CROWN-IBP bound); "mixtrain-symbolic" is MixTrain with the
# paper's own bound (symbolic intervals) on k = 10; the full-batch baselines put
# every point of the batch through the bound pass.
RUNS = {
    "mixtrain": ["--trainer", "mixtrain"],
    "mixtrain-symbolic": ["--trainer", "mixtrain", "--bound", "symbolic", "--k", "10"],
    "full-symbolic": ["--trainer", "verified", "--bound", "symbolic"],
    "full-crown-ibp": ["--trainer", "verified", "--bound", "crown-ibp"],
    "full-ibp": ["--trainer", "verified", "--bound", "ibp"],
    "pgd-40": ["--trainer", "pgd", "--pgd-steps", "40"],
}


def mean_epoch_train_time(run):
    rows = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl")) if line.strip()]
    return sum(r["train_time_s"] for r in rows) / len(rows), [r["train_time_s"] for r in rows]


def main(argv):
    out, argv = parse_out(argv, "runs/trainers")
    rows = []
    for name, flags in RUNS.items():
        run = os.path.join(out, name)
        s = run_or_load(run, flags, argv)
        epoch_s, per_epoch = mean_epoch_train_time(run)
        rows.append(dict(name=name, flags=flags, clean=s["test_clean_acc"], verified=s["test_verified_acc"],
                         pgd=s["test_pgd_acc"], certifier=s["certifier"], test_n=s["test_n"],
                         epoch_train_s=round(epoch_s, 2), per_epoch_train_s=per_epoch))
    base = rows[0]["epoch_train_s"]
    for r in rows:
        r["slowdown_vs_mixtrain"] = round(r["epoch_train_s"] / base, 2)
    with open(os.path.join(out, "comparison.json"), "w") as f:
        device = json.load(open(os.path.join(out, rows[0]["name"], "summary.json")))["config"].get("device", "cpu")
        json.dump({"device": device_name(device), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"), "commit": git_commit(), "args": argv, "runs": rows}, f, indent=1)
    print("%-18s %12s %10s %8s %9s %8s" % ("trainer", "s / epoch", "x MixTrain", "clean", "verified", "PGD"))
    for r in rows:
        print("%-18s %12.1f %10.2f %7.2f%% %8.2f%% %7.2f%%" % (
            r["name"], r["epoch_train_s"], r["slowdown_vs_mixtrain"], 100 * r["clean"], 100 * r["verified"],
            100 * r["pgd"]))
    print("verified by: %s on %d test points" % (rows[0]["certifier"], rows[0]["test_n"]))


if __name__ == "__main__":
    main(sys.argv[1:])
