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
    "bitplane_estimate_topk_regions_ref",
    "probe_lists_ref",
    "probe_shortlist_ref",
    "probe_sketch_ref",
]


def overlap_topk_ref(pool_slots, pool_weights, starts, lengths, q_indptr, q_indices, q_weights, eligible, k,
                     fill_zeros=True):
    """Dense float64 scores of every slot, then the k best eligible by (score desc, slot asc);
    without fill_zeros only those scoring above 0."""
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
        rows = np.flatnonzero(eligible if fill_zeros else eligible & (scores > 0))
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


def bitplane_estimate_topk_regions_ref(pool_words, pool_slots, starts, lengths, lists, planes, qa, qb, add_w, k,
                                       alive=None):
    """The lists' rows gathered in list order, then the blocked scan's reference on them."""
    from .reference import bitplane_estimate_topk_ref

    w = planes.shape[1]
    pos = [np.arange(starts[l], starts[l] + lengths[l]) for l in lists]
    pos = np.concatenate(pos).astype(np.int64) if pos else np.zeros(0, np.int64)
    codes = np.ascontiguousarray(pool_words[pos, :w])
    factors = np.ascontiguousarray(pool_words[pos, w].astype(np.uint32).view(np.float16).reshape(-1, 2).T)
    slots = np.asarray(pool_slots, np.int64)[pos]
    keep = None
    if alive is not None:
        alive = np.asarray(alive)
        keep = np.zeros(len(slots), np.uint8)
        inside = slots < len(alive)
        keep[inside] = alive[slots[inside]]
    s, r = bitplane_estimate_topk_ref(codes, planes[None], np.float32([qa]), np.float32([qb]), factors, add_w, k, keep)
    return s[0], np.where(r[0] >= 0, slots[np.maximum(r[0], 0)] if len(slots) else -1, -1)


def probe_lists_ref(centroids16, q, nprobe, bias=None):
    """Rank the float16 centroids in float64; ties to the smaller list."""
    c = np.asarray(centroids16).view(np.float16).astype(np.float64)
    s = c @ np.asarray(q, np.float64) + (0 if bias is None else np.asarray(bias, np.float64))
    return np.argsort(-s, kind="stable")[:nprobe]


def probe_shortlist_ref(centroids, cand, q, nprobe, bias=None):
    """Rank the shortlisted float32 centroids in float64; ties to the earlier in cand."""
    cand = np.asarray(cand, np.int64)
    s = np.asarray(centroids, np.float64)[cand] @ np.asarray(q, np.float64)
    if bias is not None:
        s = s + np.asarray(bias, np.float64)[cand]
    return cand[np.argsort(-s, kind="stable")[:nprobe]]


def probe_sketch_ref(words, factors, mean, centroids, q, nprobe, m, bits=4, add_w=1.0, bias=None):
    """The estimates of every centroid from its row-major sign words (nlist, w)
    and float16 factors (2, nlist) (as uint16 bits), the m best by a stable
    sort, then the exact second look over them in list order."""
    from .reference import bitplane_distances_ref, quantize_planes_ref

    qc = (np.asarray(q, np.float32) - np.asarray(mean, np.float32))[None]
    h = ((1 << bits) - 1) / 2.0
    qb = float(np.abs(qc).max()) / h
    qa, qb = np.float32(h * qc.shape[1] * qb), np.float32(qb)
    dist = bitplane_distances_ref(words, quantize_planes_ref(qc, bits))[0].astype(np.float32)
    f = np.asarray(factors).view(np.float16).astype(np.float32)
    est = f[0] * (qa - qb * dist) + np.float32(add_w) * f[1]
    cand = np.sort(np.argsort(-est, kind="stable")[:m])
    return probe_shortlist_ref(centroids, cand, q, nprobe, bias)
