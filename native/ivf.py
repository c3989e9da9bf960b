"""IVF: gather the codes of the probed lists into one contiguous block.

The lists live in a posting pool (see ``native.sparse``): list ``l`` holds the
slots ``pool_slots[starts[l] : starts[l] + lengths[l]]``.  A query scans only
the rows of its probed lists, so the codes of those rows are copied, list by
list in the order given, next to the slots they came from; any code scanner
then runs on the block and its row numbers map back through ``slots``.
"""
import numpy as np
from numba import njit

__all__ = ["gather_lists"]


@njit(cache=True, nogil=True)
def _gather_kernel(pool_slots, starts, lengths, lists, codes):
    m = 0
    for i in range(lists.shape[0]):
        m += lengths[lists[i]]
    width = codes.shape[1]
    slots = np.empty(m, np.int64)
    out = np.empty((m, width), codes.dtype)
    pos = 0
    for i in range(lists.shape[0]):
        l = lists[i]
        st = starts[l]
        for e in range(lengths[l]):
            s = pool_slots[st + e]
            slots[pos] = s
            row = codes[s]
            dst = out[pos]
            for j in range(width):
                dst[j] = row[j]
            pos += 1
    return slots, out


def gather_lists(pool_slots, starts, lengths, lists, codes):
    """(slots int64 (m,), rows (m, w)) of the lists ``lists`` (int64, any order), list by list.

    pool_slots int32 (P,); starts, lengths int64 (nlist,); codes uint8 (n, w)
    with every pooled slot < n.  Read-only inputs are accepted.
    """
    pool_slots = _arr1(pool_slots, np.int32, "pool_slots")
    starts = _arr1(starts, np.int64, "starts")
    lengths = _arr1(lengths, np.int64, "lengths")
    lists = _arr1(lists, np.int64, "lists")
    if not isinstance(codes, np.ndarray) or codes.ndim != 2 or codes.dtype != np.uint8:
        raise TypeError("codes must be a 2-D uint8 numpy array")
    if lists.size and (lists.min() < 0 or lists.max() >= len(starts)):
        raise ValueError(f"lists must lie in [0, {len(starts)})")
    return _gather_kernel(pool_slots, starts, lengths, lists, np.ascontiguousarray(codes))


def _arr1(a, dtype, name):
    if not isinstance(a, np.ndarray) or a.ndim != 1:
        raise TypeError(f"{name} must be a 1-D numpy array")
    return np.ascontiguousarray(a, dtype=dtype)

