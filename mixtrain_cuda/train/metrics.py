"""Per-epoch metrics: JSONL (one object per epoch), CSV (same rows), a PNG of
the curves, and the final summary table."""
import csv
import json
import os

CSV_FIELDS = ("epoch", "eps", "alpha", "lr", "train_loss", "train_clean_loss", "train_robust_loss", "train_acc",
              "val_clean_acc", "val_verified_acc", "val_pgd_acc", "epoch_time_s", "total_time_s")


class MetricsLog:
    """Appends rows to out_dir/metrics.jsonl and metrics.csv. On resume, rows of
    epochs after the checkpoint (written before a kill) are dropped first."""

    def __init__(self, out_dir, resume_epoch=None):
        self.jsonl = os.path.join(out_dir, "metrics.jsonl")
        self.csv = os.path.join(out_dir, "metrics.csv")
        rows = self.read(self.jsonl) if resume_epoch is not None else []
        self.rows = [r for r in rows if r["epoch"] <= resume_epoch]
        self._rewrite()

    @staticmethod
    def read(path):
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def _rewrite(self):
        with open(self.jsonl, "w") as f:
            for r in self.rows:
                f.write(json.dumps(r) + "\n")
        with open(self.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
            w.writeheader()
            for r in self.rows:
                w.writerow(r)

    def append(self, row):
        self.rows.append(row)
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(row) + "\n")
        with open(self.csv, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore").writerow(row)


def plot_metrics(rows, path, title=""):
    """accuracies, alpha and eps against epochs, and cumulative time; returns
    the path, or None when matplotlib is missing (said, not hidden)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("metrics plot skipped: matplotlib is not installed")
        return None
    ep = [r["epoch"] + 1 for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label in (("val_clean_acc", "clean"), ("val_verified_acc", "verified"), ("val_pgd_acc", "PGD")):
        pts = [(e, r[key]) for e, r in zip(ep, rows) if r.get(key) is not None]
        if pts:
            a1.plot(*zip(*pts), marker="o", label=label)
    a1.set_xlabel("epoch")
    a1.set_ylabel("validation accuracy")
    a1.set_ylim(0, 1)
    a1.grid(alpha=0.3)
    a1.legend()
    a2.plot(ep, [r["alpha"] for r in rows], marker=".", label="alpha (clean share)")
    epsmax = max([r["eps"] for r in rows] + [1e-12])
    a2.plot(ep, [r["eps"] / epsmax for r in rows], marker=".", label="eps / %.3g" % epsmax)
    a2.set_xlabel("epoch")
    a2.set_ylim(0, 1.05)
    a2.grid(alpha=0.3)
    t = a2.twinx()
    t.plot(ep, [r["total_time_s"] / 60 for r in rows], color="gray", ls="--", label="time (min)")
    t.set_ylabel("minutes")
    h1, l1 = a2.get_legend_handles_labels()
    h2, l2 = t.get_legend_handles_labels()
    a2.legend(h1 + h2, l1 + l2, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def format_table(rows, headers):
    """A plain-text table (no dependency)."""
    cells = [[str(h) for h in headers]] + [[("%.4f" % v if isinstance(v, float) else str(v)) for v in r] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
