"""What the comparison scripts share: their `--out` argument, and running one
`mixtrain train` per configuration unless its summary.json already exists (so
a comparison resumes where it stopped)."""
import json
import os
import subprocess
import sys


def parse_out(argv, default):
    """(out folder, the rest of argv); `--out DIR` must come first."""
    if argv[:1] == ["--out"]:
        return argv[1], argv[2:]
    return default, argv


def run_or_load(run, flags, argv):
    """Trains into `run` with the run's own flags, then the shared extra argv
    (later flags win, so an extra argument overrides a run's own flag), unless
    it finished before; returns its summary.json."""
    summary = os.path.join(run, "summary.json")
    if not os.path.exists(summary):
        subprocess.run([sys.executable, "-m", "mixtrain_cuda", "train", "--out", run, "--no-progress"] + flags + argv,
                       check=True)
    with open(summary) as f:
        return json.load(f)
