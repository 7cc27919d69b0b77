"""Graph-replayed kernel time of crown_conv2d_backward on the nets' narrow
first layers (mnist_small.conv1 measured 0.62x the reference launch-inclusive
in session 25): the op, the reference, and their parts, to tell whether the
transposed convolution or the bias term costs. Needs a GPU. Usage:

    python benchmarks/crown_conv_probe.py OUT.json

Times are bench.cuda_graph_seconds (64 calls per graph, median of replays),
in us. Session 25's run (results/h100-crown-conv-bias-term-2026-11-24.json)
took the median of 15 replays timed by events, the same measure."""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import mixtrain_cuda  # noqa: E402,F401  (registers the ops)
from mixtrain_cuda import bench  # noqa: E402
from mixtrain_cuda.ops import reference  # noqa: E402


# (label, in channels, input side, out channels, kernel, stride, padding): the
# nets' first convolutions, the layers the engine hands crown_conv2d_backward.
LAYERS = [("mnist_small.conv1", 1, 28, 16, 4, 2, 1), ("mnist_large.conv1", 1, 28, 32, 3, 1, 1),
          ("cifar_small.conv1", 3, 32, 16, 4, 2, 1)]


def main(out_path):
    if not torch.cuda.is_available():
        sys.exit("crown_conv_probe.py needs a GPU")
    # The reference in IEEE float32, as the op runs (cuDNN's default is TF32).
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    op = torch.ops.mixtrain.crown_conv2d_backward
    res = {}
    for label, cin, hw, cout, k, st, pad in LAYERS:
        oh = (hw + 2 * pad - k) // st + 1
        A = torch.randn(144, cout, oh, oh, device="cuda").contiguous(memory_format=torch.channels_last)
        Ac = A.contiguous()
        w, b = torch.randn(cout, cin, k, k, device="cuda"), torch.randn(cout, device="cuda")
        conv = ((st, st), (pad, pad), (1, 1), (hw, hw))
        out_pad = reference.output_padding(A, w, *conv[:3], conv[3])
        variants = [
            ("op", lambda: op(A, w, b, *conv)),
            ("reference", lambda: reference.crown_conv2d_backward(A, w, b, *conv)),
            ("op_A_to_nchw_first", lambda: op(A.contiguous(), w, b, *conv)),
            ("op_no_bias", lambda: op(A, w, None, *conv)),
            ("conv_transpose2d", lambda: F.conv_transpose2d(A, w, None, (st, st), (pad, pad), out_pad)),
            ("conv_transpose2d_nchw_A", lambda: F.conv_transpose2d(Ac, w, None, (st, st), (pad, pad), out_pad)),
        ]
        res[label] = {name: bench.cuda_graph_seconds(fn) * 1e6 for name, fn in variants}
        print(label, " ".join("%s %.1f us" % kv for kv in res[label].items()))
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
