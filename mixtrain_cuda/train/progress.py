"""tqdm progress bars (with ETA) for training and certification."""
import sys


def progress_bar(total, desc, enabled=True, unit="batch"):
    """A tqdm bar on stderr, or None when disabled or tqdm is missing."""
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    # Redirected to a file, a bar redrawn 30 times a second floods the log: redraw every 20 s.
    interval = 0.1 if sys.stderr.isatty() else 20.0
    return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True, file=sys.stderr,
                mininterval=interval)


class MethodBars:
    """The `progress` callback of `verify`: one bar per certifier, over the
    points still unverified when that certifier starts."""

    def __init__(self, desc, enabled=True):
        self.desc, self.enabled = desc, enabled
        self.method, self.bar = None, None

    def __call__(self, method, done, total):
        if method != self.method:
            self.close()
            self.method = method
            self.bar = progress_bar(total, "%s (%s)" % (self.desc, method), self.enabled, "pt")
        if self.bar is not None:
            self.bar.update(done)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
