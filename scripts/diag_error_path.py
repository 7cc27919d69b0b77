"""Diagnosis of an argument error raised from a CPU kernel (seen crashing the
process on the GPU machine's torch 2.11): each variant runs in its own process
and reports whether Python got the RuntimeError or the process died."""
import subprocess
import sys

VARIANTS = {
    "cpu kernel, below autograd": "mc.interval_linear(torch.randn(2, 4), torch.randn(2, 5), torch.randn(3, 4))",
    "cpu kernel, through dispatcher": "torch.ops.mixtrain.interval_linear(torch.randn(2, 4), torch.randn(2, 5), "
                                      "torch.randn(3, 4), None)",
    "cpu kernel, no message args": "mc.symbolic_linear(torch.randn(2, 4), torch.randn(2, 3, 4), torch.randn(3, 4), "
                                   "input_rows=5)",
    "cpu kernel, interval_relu": "mc.interval_relu(torch.randn(2, 4), torch.randn(2, 5))",
    "cuda kernel, shape error": "mc.interval_linear(torch.randn(2, 4).cuda(), torch.randn(2, 5).cuda(), "
                                "torch.randn(3, 4).cuda())",
    "torch's own check": "torch.mm(torch.randn(2, 4), torch.randn(5, 3))",
    "cpu kernel, valid call": "print(mc.interval_linear(torch.randn(2, 4), torch.rand(2, 4), torch.randn(3, 4))[0].shape)",
}
for name, code in VARIANTS.items():
    src = "import torch, mixtrain_cuda as mc\ntry:\n    %s\nexcept RuntimeError as e:\n    print('RuntimeError:', str(e).splitlines()[0][:100])\n" % code
    p = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True)
    err = p.stderr.strip().splitlines()
    print("%-32s rc=%-4d %s" % (name, p.returncode, (p.stdout.strip() or (err[-1] if err else ""))[:120]))
