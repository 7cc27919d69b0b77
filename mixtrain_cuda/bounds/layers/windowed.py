"""Generator rows kept as windows (the symbolic pass's convolutional layers).

After the first convolution an input symbol (one input coordinate) moves
only the few output pixels whose receptive field holds it, and a symbol a
ReLU makes moves one neuron: every generator row is zero outside a small
window of the map. On a trained MNIST-small net at eps 0.3 the dense rows
([B, R, C, H, W], 784 input rows of 16 x 14 x 14 after the first
convolution) cost more to write, scale and read than anything computed on
them: the ReLU after the first convolution (a pass over all of them) was a
third of the pass, and the second convolution of the mostly-zero rows
another third.

WindowedSymbolic keeps each row as the values in its window only: vals
[B, R, C, hb, wb] (all channels of an hb x wb window; one window size for
all rows), the window's top-left pixel (ay, ax) [B, R], always inside the
map. A convolution (`conv2d`, groups 1, dilation 1) maps a window to the
window of outputs that read it: for each row a product of its C*hb*wb
values with the weight taps that connect the two windows (the same taps for
every row with the same offset between them, so rows are grouped by offset
and each group is one matrix product). A ReLU (`relu`) scales the values by
the slopes under the window and makes its new rows as one-pixel windows
padded to the window size. Any other layer reads `gens`, the dense rows,
made once (the same generators as the dense pass, only later); a
convolution whose windows would cover so much of its output that the
product no longer saves (`conv2d_pays`) does the same.

Windows are exact, not a relaxation: a window holds every nonzero of its
row (a convolution's output window is every output whose receptive field
meets the input window, moved inside the map where it sticks out, which
keeps every output of the row that exists), so bounds equal the dense
pass's up to the order of float additions."""
import functools
import math

import torch
import torch.nn.functional as F

from ...ops.reference import safe_sqrt, symbolic_relax
from .base import Symbolic


class WindowedSymbolic:
    """center [B, C, H, W] (or flattened, [B, C*H*W], after a Flatten: the
    rows keep their windows, `map` keeps (C, H, W)); generator row r of
    sample b is vals[b, r] ([C, hb, wb]) at rows ay[b, r] .. ay + hb - 1 and
    columns ax[b, r] .. ax + wb - 1 of the map, zero elsewhere. The first
    `input_rows` rows are input symbols (summed with the dual norm of `norm`,
    see ops.reference.generator_radius), the rest ReLU symbols."""

    def __init__(self, center, vals, ay, ax, input_rows, norm, map_shape=None):
        self.center, self.vals, self.ay, self.ax = center, vals, ay, ax
        self.input_rows, self.norm = input_rows, norm
        self.map = tuple(map_shape or center.shape[1:])

    def reshaped(self, center):
        """The same rows under another shape of the center (a Flatten)."""
        return WindowedSymbolic(center, self.vals, self.ay, self.ax, self.input_rows, self.norm, self.map)

    @classmethod
    def from_diagonal(cls, state, input_rows, norm):
        """The input symbols of a DiagonalSymbolic [B, C, H, W] as one-pixel
        windows: row (c, y, x) holds its width in channel c at (y, x)."""
        w = state.widths
        B, C, H, W = w.shape
        eye = torch.eye(C, dtype=w.dtype, device=w.device)
        # [B, c of the row, H*W, channel] -> rows in (c, y, x) order, as the dense rows
        vals = (w.reshape(B, C, H * W, 1) * eye.reshape(1, C, 1, C)).reshape(B, C * H * W, C, 1, 1)
        pixel = torch.arange(H * W, device=w.device).repeat(C)
        ay, ax = (pixel // W).expand(B, -1), (pixel % W).expand(B, -1)
        return cls(state.center, vals, ay, ax, input_rows, norm)

    @property
    def window(self):
        return self.vals.shape[3], self.vals.shape[4]

    def positions(self, rows=slice(None)):
        """[B, r, hb * wb]: each window pixel's index into the flattened map."""
        hb, wb = self.window
        W = self.map[2]
        dev = self.vals.device
        y = self.ay[:, rows, None, None] + torch.arange(hb, device=dev)[:, None]
        x = self.ax[:, rows, None, None] + torch.arange(wb, device=dev)
        return (y * W + x).flatten(2)

    @functools.cached_property
    def radius(self):
        """sum over rows of |g| (input rows: sqrt(sum g^2) for L2), per neuron:
        each window's values added into the map."""
        k = self.input_rows if not math.isinf(self.norm) else 0
        vals = self.vals.flatten(3)
        radius = self._summed(vals[:, k:].abs(), slice(k, None))
        if k > 0:
            radius = radius + safe_sqrt(self._summed(vals[:, :k].square(), slice(None, k)))
        return radius.reshape(self.center.shape)

    def _summed(self, vals, rows):
        """vals [B, r, C, hb*wb] of rows `rows` added into a [B, C, H*W] map."""
        B, r, C, n = vals.shape
        H, W = self.map[1:]
        index = self.positions(rows).reshape(B, 1, r * n).expand(B, C, r * n)
        # scatter_add over the last dimension: on the CPU each [b, c] line is
        # summed by one thread in index order, so the bits repeat (checkpointed
        # chunks recompute them; on CUDA atomics would not, see conv2d_pays).
        return vals.new_zeros(B, C, H * W).scatter_add_(2, index, vals.permute(0, 2, 1, 3).reshape(B, C, r * n))

    @functools.cached_property
    def gens(self):
        """The dense rows [B, R, C, H, W]."""
        B, R, C = self.vals.shape[:3]
        H, W = self.map[1:]
        n = self.vals.shape[3] * self.vals.shape[4]
        index = self.positions().reshape(B, R, 1, n).expand(B, R, C, n)
        dense = self.vals.new_zeros(B, R, C, H * W).scatter_(3, index, self.vals.reshape(B, R, C, n))
        return dense.reshape(B, R, *self.center.shape[1:])


def out_window(kernel, stride, window, size_out):
    """Along one dimension: (n, first) for a window of `window` inputs: the
    outputs reading any of them are base + first .. base + first + n - 1,
    base = (anchor + padding) // stride, for every anchor (n covers all
    phases), at most the whole output."""
    first = -((kernel - 1) // stride)
    last = (stride - 1 + window - 1) // stride
    return min(last - first + 1, size_out), first


def conv2d_pays(window, conv, out_hw, device):
    """Whether `conv2d` of rows with windows `window` (hb, wb) beats the dense rows' convolution: its product per row
    (C*hb*wb values times O*n_h*n_w outputs) no larger than the dense one's
    (C*kh*kw taps for each of O*Ho*Wo outputs), which would also have to make
    the dense rows first, and keep them: on a random MNIST-large net at eps
    0.01 (every neuron of the third ReLU unstable) the fourth convolution,
    4x4 stride 2 from 5x5 windows, multiplies 0.51x as much windowed, and its
    dense input rows (1.1 GB a sample) sent the pass down the streamed path:
    1 point 21.9 -> 1.6 s. Groups and dilation have no
    windowed form. On CUDA only outside autograd: the radius's scatter_add
    runs on atomics there, and checkpointed chunks must recompute the same
    bits (module._checkpointed)."""
    if conv.groups != 1 or tuple(conv.dilation) != (1, 1):
        return False
    if device.type != "cpu" and torch.is_grad_enabled():
        return False
    hb, wb = window
    (kh, kw), (sh, sw) = conv.kernel_size, conv.stride
    nh, _ = out_window(kh, sh, hb, out_hw[0])
    nw, _ = out_window(kw, sw, wb, out_hw[1])
    return hb * wb * nh * nw <= kh * kw * out_hw[0] * out_hw[1]


def _anchors(a, stride, padding, n, first, size_out):
    """Output anchors (inside the output) and each row's offset
    d = a + padding - anchor_out * stride (>= 0): input pixel a + i meets
    output anchor_out + j through tap d + i - j * stride."""
    out = ((a + padding) // stride + first).clamp(0, size_out - n)
    return out, a + padding - out * stride


def _taps(d, window, n, stride, kernel):
    """[K, window, n] tap index of each (input i, output j) for offsets d [K], and whether it exists."""
    dev = d.device
    t = d[:, None, None] + torch.arange(window, device=dev)[:, None] - stride * torch.arange(n, device=dev)
    valid = (t >= 0) & (t < kernel)
    return t.clamp(0, kernel - 1), valid


def conv2d(state, weight, bias, stride, padding, out_hw):
    """The windowed rows through conv(., weight, stride, padding) (groups 1,
    dilation 1); the center through the layer itself."""
    B, R, C, hb, wb = state.vals.shape
    O, _, kh, kw = weight.shape
    (sh, sw), (ph, pw) = stride, padding
    H, W = state.map[1:]
    Ho, Wo = out_hw
    nh, fh = out_window(kh, sh, hb, Ho)
    nw, fw = out_window(kw, sw, wb, Wo)
    ay, dy = _anchors(state.ay, sh, ph, nh, fh, Ho)
    ax, dx = _anchors(state.ax, sw, pw, nw, fw, Wo)

    def taps(keys):  # [K, C*hb*wb, O*nh*nw] for offsets keys = dy * (W + pw + 1) + dx
        ty, vy = _taps(keys // (W + pw + 1), hb, nh, sh, kh)  # [K, hb, nh]
        tx, vx = _taps(keys % (W + pw + 1), wb, nw, sw, kw)  # [K, wb, nw]
        t = weight[:, :, ty[:, :, :, None, None], tx[:, None, None, :, :]]  # [O, C, K, hb, nh, wb, nw]
        t = t * (vy[:, :, :, None, None] & vx[:, None, None, :, :]).to(t.dtype)
        return t.permute(2, 1, 3, 5, 0, 4, 6).reshape(keys.numel(), C * hb * wb, O * nh * nw)

    # Rows with the same offsets (dy, dx) share one matrix of taps.
    vals = _grouped_products(state.vals.reshape(B * R, C * hb * wb), (dy * (W + pw + 1) + dx).flatten(), taps)
    vals = vals.reshape(B, R, O, nh, nw)
    center = F.conv2d(state.center, weight, bias, stride, padding)
    return WindowedSymbolic(center, vals, ay, ax, state.input_rows, state.norm)


def relu(state, total_rows):
    """MixTrain's relaxation (ops.reference.symbolic_relu) on windowed rows:
    rows scaled by the slopes under their windows, then one new row per
    unstable neuron (compacted per sample, padded to the batch's most; the
    same order as the dense op's), holding the shift at its neuron in a
    window placed over it. `total_rows`: rows made so far on any branch
    (missing ones are zero rows)."""
    B, R, C, hb, wb = state.vals.shape
    H, W = state.map[1:]
    N = C * H * W
    slope, shift, unstable = symbolic_relax(state.center, state.radius)
    n = hb * wb
    index = state.positions().reshape(B, R, 1, n).expand(B, R, C, n)
    under = slope.reshape(B, 1, C, H * W).expand(B, R, C, H * W).gather(3, index)
    vals = state.vals * under.reshape(state.vals.shape)
    ay, ax = state.ay, state.ax
    if total_rows > R:  # symbols another branch made: zero rows here
        vals = torch.cat([vals, vals.new_zeros(B, total_rows - R, C, hb, wb)], 1)
        ay = torch.cat([ay.expand(B, R), ay.new_zeros(B, total_rows - R)], 1)
        ax = torch.cat([ax.expand(B, R), ax.new_zeros(B, total_rows - R)], 1)
    flat = unstable.reshape(B, N)
    U = int(flat.sum(1).max()) if B > 0 and N > 0 else 0
    # Row u of sample b <- its u-th unstable neuron; stable neurons go to a spare row U.
    target = torch.where(flat, flat.long().cumsum(1) - 1, torch.full_like(flat, U, dtype=torch.long))
    neuron = torch.arange(N, device=flat.device)
    c, y, x = neuron // (H * W), neuron // W % H, neuron % W
    new_ay, new_ax = y.clamp(max=H - hb), x.clamp(max=W - wb)  # windows inside the map
    inside = ((c * hb + y - new_ay) * wb + x - new_ax).expand(B, N)
    flat_index = target * (C * n) + inside
    new = vals.new_zeros(B, (U + 1) * C * n).scatter_(1, flat_index, shift.reshape(B, N))
    new = new.reshape(B, U + 1, C, hb, wb)[:, :U]
    spare = torch.zeros(B, U + 1, dtype=torch.long, device=flat.device)
    new_ay = spare.clone().scatter_(1, target, new_ay.expand(B, N))[:, :U]
    new_ax = spare.scatter_(1, target, new_ax.expand(B, N))[:, :U]
    center = slope * state.center + shift
    return WindowedSymbolic(center, torch.cat([vals, new], 1), torch.cat([ay.expand(B, -1), new_ay], 1),
                            torch.cat([ax.expand(B, -1), new_ax], 1), state.input_rows, state.norm, state.map)


def linear(state, weight, bias, sp):
    """Flattened windowed rows through a linear layer (the dense rows it
    returns are its output's): each row's values against the weight's
    columns under its window, rows grouped by window (rows at the same
    place share those columns)."""
    B, R, C, hb, wb = state.vals.shape
    H, W = state.map[1:]
    N = weight.shape[0]
    dev = weight.device

    def columns(keys):  # [K, C*hb*wb, N] for anchors keys = ay * W + ax
        y = (keys // W)[:, None, None] + torch.arange(hb, device=dev)[:, None]
        x = (keys % W)[:, None, None] + torch.arange(wb, device=dev)
        cols = weight.reshape(N, C, H, W)[:, :, y, x]  # [N, C, K, hb, wb]
        return cols.permute(2, 1, 3, 4, 0).reshape(keys.numel(), C * hb * wb, N)

    key = (state.ay * W + state.ax).expand(B, R).flatten()
    gens = _grouped_products(state.vals.reshape(B * R, C * hb * wb), key, columns).reshape(B, R, N)
    center = F.linear(state.center, weight, bias)
    return Symbolic(center, gens, sp.ops.generator_radius(gens, state.input_rows, state.norm))


def _grouped_products(rows, key, matrices):
    """rows [n, k], each times the matrix of its key: matrices(keys) gives
    [K, k, m] for the distinct keys (ascending). Rows are sorted by key, each
    group is one product, and the results are put back in the rows' order."""
    keys, group = torch.unique(key, return_inverse=True)
    order = torch.argsort(group, stable=True)
    counts = torch.bincount(group, minlength=keys.numel()).tolist()
    mats = matrices(keys)
    if rows.shape[0] == 0:
        return rows.new_zeros(0, mats.shape[2])
    sorted_rows = rows.index_select(0, order)
    out = torch.cat([torch.mm(part, mats[k]) for k, part in enumerate(sorted_rows.split(counts))])
    return out.index_select(0, torch.argsort(order))
