"""Compares the mixing rules on the same MixTrain run: our dynamic rule, a
fixed alpha, and HYDRA's published schedule (same seed, data, model, eps,
bound method, epochs). Usage:

    .venv/bin/python scripts/compare_mixing.py [--out runs/compare] [extra `mixtrain train` args]

Writes OUT/<rule>/ for each run and OUT/comparison.json, and prints a table.
"""
import json
import os
import sys

from _runs import parse_out, run_or_load

RULES = {"dynamic": ["--mixing", "dynamic"], "fixed": ["--mixing", "fixed", "--alpha", "0.5"],
         "hydra": ["--mixing", "hydra"]}


def main(argv):
    out, argv = parse_out(argv, "runs/compare")
    rows = []
    for rule, flags in RULES.items():
        s = run_or_load(os.path.join(out, rule), flags, argv)
        rows.append(dict(rule=rule, clean=s["test_clean_acc"], verified=s["test_verified_acc"], pgd=s["test_pgd_acc"],
                         final_alpha=s["final_alpha"], train_time_s=s["train_time_s"], certifier=s["certifier"]))
    with open(os.path.join(out, "comparison.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print("%-8s %8s %9s %8s %12s %8s" % ("rule", "clean", "verified", "PGD", "final alpha", "train s"))
    for r in rows:
        print("%-8s %7.2f%% %8.2f%% %7.2f%% %12.3f %8.0f" % (r["rule"], 100 * r["clean"], 100 * r["verified"],
                                                            100 * r["pgd"], r["final_alpha"], r["train_time_s"]))


if __name__ == "__main__":
    main(sys.argv[1:])
