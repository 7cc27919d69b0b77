"""The idx file format of MNIST and Fashion-MNIST, read with numpy alone.

Format (http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code, the
number of dimensions, then each dimension as a big-endian uint32, then the
data, big-endian. Files may be gzipped; they are recognized by content (the
gzip magic), not by name, since renamed copies are common.
"""
import gzip
import zlib

import numpy as np

from ._common import CorruptDatasetError

_GZIP_MAGIC = b"\x1f\x8b"

_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path):
    """Decode one idx file (gzipped or not) into a numpy array.

    Raises CorruptDatasetError naming ``path`` when the header is not idx or the
    payload is shorter or longer than the header says.
    """
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            # A download cut short leaves a gzip stream without its end.
            raise CorruptDatasetError(f"{path}: corrupt or truncated gzip data ({e})") from None

    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise CorruptDatasetError(
            f"{path}: not an idx file (magic bytes {raw[:4].hex() or 'missing'})"
        )
    dtype, ndim = _DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise CorruptDatasetError(f"{path}: truncated idx header ({ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise CorruptDatasetError(
            f"{path}: idx header says shape {shape} ({expected} bytes) but the file has "
            f"{len(raw)} bytes; it is truncated or not what it claims to be"
        )
    data = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    # Native byte order and writable, so torch.from_numpy accepts it.
    return data.astype(dtype.newbyteorder("="), copy=True)
