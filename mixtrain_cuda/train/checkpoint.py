"""Checkpoints written atomically: a run killed at any moment leaves either the
previous checkpoint or the new one on disk, never a torn file."""
import os
import tempfile

import torch


def save_atomic(obj, path):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX within one file system
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path, map_location="cpu"):
    """Loads a checkpoint written by the trainer and checks it (keys, no NaN weights)."""
    if not os.path.isfile(path):
        raise FileNotFoundError("no checkpoint at %s" % path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # truncated or not a torch file
        raise ValueError("cannot read checkpoint %s: %s" % (path, e)) from e
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise ValueError("%s is not a mixtrain checkpoint (needs 'model' and 'config')" % path)
    for name, t in ckpt["model"].items():
        if torch.is_tensor(t) and t.is_floating_point() and not torch.isfinite(t).all():
            raise ValueError("checkpoint %s: parameter %s has NaN or infinite values" % (path, name))
    return ckpt
