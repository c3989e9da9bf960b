"""Plain-numpy references of the kernels in ``native.sparse`` and ``native.ivf``.

Written for obviousness (dense score vectors, explicit sorts); they define the
conventions the kernels must match exactly: result order, ties, padding, and
the in-place layout after pool upkeep.
"""
import numpy as np

__all__ = [
    "overlap_topk_ref",
    "top_active_ref",
    "postings_append_ref",
    "postings_remove_ref",
    "sort_regions_ref",
    "copy_regions_ref",
    "gather_regions_ref",
    "pool_positions_ref",
]


def overlap_topk_ref(pool_slots, pool_weights, starts, lengths, q_indptr, q_indices, q_weights, eligible, k):
    """Dense float64 scores of every slot, then the k best eligible by (score desc, slot asc)."""
    eligible = np.asarray(eligible).astype(bool)
    n = len(eligible)
    nq = len(q_indptr) - 1
    out_s = np.full((nq, k), -1, np.int64)
    out_v = np.full((nq, k), -np.inf, np.float32)
    for q in range(nq):
        scores = np.zeros(n, np.float64)
        for t in range(q_indptr[q], q_indptr[q + 1]):
            d = q_indices[t]
            wq = np.float64(q_weights[t]) if len(q_weights) else 1.0
            lo, hi = starts[d], starts[d] + lengths[d]
            region = np.asarray(pool_slots[lo:hi], np.int64)
            w = np.asarray(pool_weights[lo:hi], np.float64) if len(pool_weights) else np.ones(hi - lo)
            # np.add.at adds in index order: the same order of additions as the kernel
            np.add.at(scores, region, np.where(eligible[region], wq * w, 0.0))
        rows = np.flatnonzero(eligible)
        order = np.lexsort((rows, -scores[rows]))[:k]
        out_s[q, : len(order)] = rows[order]
        out_v[q, : len(order)] = scores[rows[order]]
    return out_s, out_v


def top_active_ref(x, a):
    """Sort each row by (value desc, index asc), keep the first a indices, sorted ascending."""
    x = np.asarray(x, np.float64)
    cols = np.arange(x.shape[1])
    out = np.empty((len(x), a), np.int64)
    for i, row in enumerate(x):
        out[i] = np.sort(np.lexsort((cols, -row))[:a])
    return out


def postings_append_ref(pool_slots, pool_values, starts, lengths, keys, slots, values):
    for i in range(len(keys)):
        d = keys[i]
        pos = starts[d] + lengths[d]
        pool_slots[pos] = slots[i]
        if pool_values.shape[1]:
            pool_values[pos] = values[i]
        lengths[d] += 1


def postings_remove_ref(pool_slots, pool_values, starts, lengths, keys, slots):
    missing = 0
    for i in range(len(keys)):
        d = keys[i]
        lo, n = starts[d], lengths[d]
        hits = np.flatnonzero(pool_slots[lo : lo + n] == slots[i])
        if not len(hits):
            missing += 1
            continue
        pos, end = lo + hits[0], lo + n
        pool_slots[pos : end - 1] = pool_slots[pos + 1 : end].copy()
        if pool_values.shape[1]:
            pool_values[pos : end - 1] = pool_values[pos + 1 : end].copy()
        lengths[d] = n - 1
    return missing


def sort_regions_ref(pool_slots, pool_values, starts, lengths, keys):
    for d in keys:
        lo, hi = starts[d], starts[d] + lengths[d]
        order = np.argsort(pool_slots[lo:hi], kind="stable")
        pool_slots[lo:hi] = pool_slots[lo:hi][order]
        if pool_values.shape[1]:
            pool_values[lo:hi] = pool_values[lo:hi][order]


def copy_regions_ref(src_slots, src_values, dst_slots, dst_values, src_starts, lengths, dst_starts):
    for a, n, b in zip(src_starts, lengths, dst_starts):
        dst_slots[b : b + n] = src_slots[a : a + n].copy()
        if dst_values.shape[1]:
            dst_values[b : b + n] = src_values[a : a + n].copy()


def gather_regions_ref(pool_slots, pool_rows, starts, lengths, lists):
    pos = [np.arange(starts[l], starts[l] + lengths[l]) for l in lists]
    pos = np.concatenate(pos) if pos else np.zeros(0, np.int64)
    return np.asarray(pool_slots[pos], np.int64), np.asarray(pool_rows)[pos]


def pool_positions_ref(pool_slots, starts, lengths, keys, slots):
    out = np.full(len(keys), -1, np.int64)
    for i, (d, s) in enumerate(zip(keys, slots)):
        hits = np.flatnonzero(pool_slots[starts[d] : starts[d] + lengths[d]] == s)
        if len(hits):
            out[i] = starts[d] + hits[0]
    return out
