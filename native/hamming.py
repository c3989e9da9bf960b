"""Binary codes: sign packing, Hamming distances and a fused Hamming top-k scan.

A code is a row of ``w`` uint64 words (``w * 64`` bits).  The Hamming distance
between a code ``c`` and a query ``q`` is

    H(c, q) = sum_{j < w} popcount(c[j] XOR q[j]).

``hamming_topk`` returns, per query, the ``k`` rows of smallest ``H`` ordered by
the key ``(H, row)`` ascending, i.e. ties go to the smaller row index.  The
top-k selection is fused into the scan: a bounded max-heap per query is only
touched when a distance beats the current k-th best, so no (nq, n) distance
matrix is ever built.
"""
import numpy as np
from numba import njit

from .popcount import popcount64

__all__ = ["hamming_topk", "hamming_distances", "pack_signs", "PAD_DIST", "PAD_IDX"]

PAD_DIST = np.iinfo(np.int32).max  # distance reported in unused result slots (2**31 - 1)
PAD_IDX = -1  # row index reported in unused result slots

# Batches of at least this many queries use the transposed, vectorized scan; smaller
# ones (1-2 queries) use the row-major scan.  Measured crossover on Zen 4, 384 bits:
# row-major wins at nq=1-2, the transposed scan wins from nq=3 on (the transpose of
# each block is paid once per block and amortized over the queries).
_BLOCKED_MIN_QUERIES = 3


# --------------------------------------------------------------------------- heap
@njit(cache=True, nogil=True, inline="always")
def _sift_down(hd, hi, pos, size):
    """Restore the max-heap order of (hd, hi) below ``pos``; key = (dist, row), larger is worse."""
    d0 = hd[pos]
    i0 = hi[pos]
    while True:
        c = 2 * pos + 1
        if c >= size:
            break
        if c + 1 < size and (hd[c + 1] > hd[c] or (hd[c + 1] == hd[c] and hi[c + 1] > hi[c])):
            c += 1
        if hd[c] > d0 or (hd[c] == d0 and hi[c] > i0):
            hd[pos] = hd[c]
            hi[pos] = hi[c]
            pos = c
        else:
            break
    hd[pos] = d0
    hi[pos] = i0


@njit(cache=True, nogil=True)
def _heaps_to_sorted(hd, hi):
    """In-place heapsort of every row of the max-heaps (hd, hi) into ascending (dist, row) order."""
    k = hd.shape[1]
    for q in range(hd.shape[0]):
        d = hd[q]
        ix = hi[q]
        for end in range(k - 1, 0, -1):
            td = d[0]
            ti = ix[0]
            d[0] = d[end]
            ix[0] = ix[end]
            d[end] = td
            ix[end] = ti
            _sift_down(d, ix, 0, end)


@njit(cache=True, nogil=True, inline="always")
def _push_block(dv, m, b0, hd, hi, k):
    """Offer rows b0 .. b0+m-1 with distances dv[:m] to one query's heap.

    Rows arrive in increasing index order, so a new row can only beat the heap's
    worst entry with a strictly smaller distance (an equal distance loses the tie).
    """
    thr = hd[0]
    # A vectorizable min over the block lets most blocks skip the branchy loop once
    # the heap has settled (the k-th best is then far in the tail of the distribution).
    mn = thr
    for r in range(m):
        mn = min(mn, dv[r])
    if mn >= thr:
        return
    for r in range(m):
        s = dv[r]
        if s < thr:
            hd[0] = s
            hi[0] = b0 + r
            _sift_down(hd, hi, 0, k)
            thr = hd[0]


# --------------------------------------------------------------------------- top-k
@njit(cache=True, nogil=True, inline="always")
def _rowmajor_dists(blk, qv, dv, m, w):
    """dv[r] = sum_j popcount(blk[r, j] ^ qv[j]) for r < m (row-major, one query).

    256- and 384-bit codes get unrolled bodies with the query words held in registers:
    the generic loop pays loop overhead and reloads qv[j] per word, which made it
    compute-bound (~2.1-2.3 ms for 1M x 384 bits) instead of memory-bound (~1.6-1.9 ms).
    No 512-bit body on purpose: LLVM vectorizes that one across rows with scalar
    lane inserts and it measured 4x slower than the generic loop.
    """
    if w == 6:
        q0 = qv[0]
        q1 = qv[1]
        q2 = qv[2]
        q3 = qv[3]
        q4 = qv[4]
        q5 = qv[5]
        for r in range(m):
            dv[r] = (popcount64(blk[r, 0] ^ q0) + popcount64(blk[r, 1] ^ q1)
                     + popcount64(blk[r, 2] ^ q2) + popcount64(blk[r, 3] ^ q3)
                     + popcount64(blk[r, 4] ^ q4) + popcount64(blk[r, 5] ^ q5))
    elif w == 4:
        q0 = qv[0]
        q1 = qv[1]
        q2 = qv[2]
        q3 = qv[3]
        for r in range(m):
            dv[r] = (popcount64(blk[r, 0] ^ q0) + popcount64(blk[r, 1] ^ q1)
                     + popcount64(blk[r, 2] ^ q2) + popcount64(blk[r, 3] ^ q3))
    else:
        for r in range(m):
            row = blk[r]
            s = 0
            for j in range(w):
                s += popcount64(row[j] ^ qv[j])
            dv[r] = s


@njit(cache=True, nogil=True, inline="always")
def _accumulate_words(tr, j, cnt, qv, dv, m, assign):
    """dv[r] (=|+=) sum_{t < cnt} popcount(tr[j + t, r] ^ qv[j + t]) for r < m; cnt in {1, 2, 3, 4, 6}.

    Word columns of the transposed block are unit-stride, so each loop vectorizes.
    Several words per loop keep the partial sum in a register instead of storing and
    reloading dv once per word.
    """
    if cnt == 1:
        t0 = tr[j, :m]
        a0 = qv[j]
        if assign:
            for r in range(m):
                dv[r] = popcount64(t0[r] ^ a0)
        else:
            for r in range(m):
                dv[r] += popcount64(t0[r] ^ a0)
    elif cnt == 2:
        t0 = tr[j, :m]
        t1 = tr[j + 1, :m]
        a0 = qv[j]
        a1 = qv[j + 1]
        if assign:
            for r in range(m):
                dv[r] = popcount64(t0[r] ^ a0) + popcount64(t1[r] ^ a1)
        else:
            for r in range(m):
                dv[r] += popcount64(t0[r] ^ a0) + popcount64(t1[r] ^ a1)
    elif cnt == 3:
        t0 = tr[j, :m]
        t1 = tr[j + 1, :m]
        t2 = tr[j + 2, :m]
        a0 = qv[j]
        a1 = qv[j + 1]
        a2 = qv[j + 2]
        if assign:
            for r in range(m):
                dv[r] = popcount64(t0[r] ^ a0) + popcount64(t1[r] ^ a1) + popcount64(t2[r] ^ a2)
        else:
            for r in range(m):
                dv[r] += popcount64(t0[r] ^ a0) + popcount64(t1[r] ^ a1) + popcount64(t2[r] ^ a2)
    elif cnt == 4:
        t0 = tr[j, :m]
        t1 = tr[j + 1, :m]
        t2 = tr[j + 2, :m]
        t3 = tr[j + 3, :m]
        a0 = qv[j]
        a1 = qv[j + 1]
        a2 = qv[j + 2]
        a3 = qv[j + 3]
        if assign:
            for r in range(m):
                dv[r] = (popcount64(t0[r] ^ a0) + popcount64(t1[r] ^ a1)
                         + popcount64(t2[r] ^ a2) + popcount64(t3[r] ^ a3))
        else:
            for r in range(m):
                dv[r] += (popcount64(t0[r] ^ a0) + popcount64(t1[r] ^ a1)
                          + popcount64(t2[r] ^ a2) + popcount64(t3[r] ^ a3))
    else:  # cnt == 6 (384-bit codes: the whole row in one pass)
        t0 = tr[j, :m]
        t1 = tr[j + 1, :m]
        t2 = tr[j + 2, :m]
        t3 = tr[j + 3, :m]
        t4 = tr[j + 4, :m]
        t5 = tr[j + 5, :m]
        a0 = qv[j]
        a1 = qv[j + 1]
        a2 = qv[j + 2]
        a3 = qv[j + 3]
        a4 = qv[j + 4]
        a5 = qv[j + 5]
        if assign:
            for r in range(m):
                dv[r] = (popcount64(t0[r] ^ a0) + popcount64(t1[r] ^ a1) + popcount64(t2[r] ^ a2)
                         + popcount64(t3[r] ^ a3) + popcount64(t4[r] ^ a4) + popcount64(t5[r] ^ a5))
        else:
            for r in range(m):
                dv[r] += (popcount64(t0[r] ^ a0) + popcount64(t1[r] ^ a1) + popcount64(t2[r] ^ a2)
                          + popcount64(t3[r] ^ a3) + popcount64(t4[r] ^ a4) + popcount64(t5[r] ^ a5))


@njit(cache=True, nogil=True)
def _hamming_topk_kernel(codes, queries, k, alive, has_alive, block, group):
    n, w = codes.shape
    nq = queries.shape[0]
    hd = np.full((nq, k), PAD_DIST, np.int32)
    hi = np.full((nq, k), PAD_IDX, np.int64)
    dist = np.empty(block, np.int64)
    big = np.int64(PAD_DIST)  # masked rows get a distance that can never enter a heap

    if nq < _BLOCKED_MIN_QUERIES:
        # Row-major scan: one streaming pass over the codes per query block; the
        # scalar popcnt loop runs close to memory bandwidth for 1-2 queries.
        for b0 in range(0, n, block):
            m = min(n, b0 + block) - b0
            blk = codes[b0:b0 + m]
            al = alive[b0:b0 + m]
            dv = dist[:m]
            for q in range(nq):
                _rowmajor_dists(blk, queries[q], dv, m, w)
                if has_alive:
                    for r in range(m):
                        if al[r] == 0:
                            dv[r] = big
                _push_block(dv, m, b0, hd[q], hi[q], k)
    else:
        # Cache-blocked scan: transpose a block of rows to word-major order (w, m) once,
        # then for every query accumulate popcounts over contiguous word columns.
        # The column loops are unit-stride, so LLVM vectorizes them (vpopcntq on
        # AVX-512 VPOPCNTDQ, else a vector popcount sequence); the block stays in L1/L2
        # while all queries visit it.  Slices start at 0 on purpose: loops over
        # range(b0, b1) measured several times slower in Numba.
        tr = np.empty((w, block), np.uint64)
        ngroups = (w + group - 1) // group
        for b0 in range(0, n, block):
            m = min(n, b0 + block) - b0
            blk = codes[b0:b0 + m]
            al = alive[b0:b0 + m]
            for r in range(m):
                for j in range(w):
                    tr[j, r] = blk[r, j]
            dv = dist[:m]
            for q in range(nq):
                qv = queries[q]
                if w == 0:
                    dv[:] = 0
                # Split the w words into ngroups near-equal groups of <= `group` words;
                # each group is one fused pass over dv (fewer read-modify-writes of dv).
                j = 0
                for g in range(ngroups):
                    left = ngroups - g
                    cnt = (w - j + left - 1) // left
                    _accumulate_words(tr, j, cnt, qv, dv, m, g == 0)
                    j += cnt
                if has_alive:
                    for r in range(m):
                        if al[r] == 0:
                            dv[r] = big
                _push_block(dv, m, b0, hd[q], hi[q], k)

    _heaps_to_sorted(hd, hi)
    return hd, hi


def _word_group(w):
    """Words fused per pass of the transposed scan (see _accumulate_words).

    Measured on Zen 4 (batch of 64, ms/query): 384 bits 0.78 -> ~0.5 with one 6-word
    pass; 128-512 bits gain 25-35% with <= 4-word passes; from 768 bits up the
    one-word passes were as fast or faster, so wide codes keep them.
    """
    if w == 6:
        return 6
    return 4 if w <= 8 else 1


def _block_rows(w):
    """Rows per cache block: ~16 KiB of codes (fits L1 next to the transposed copy), 64..512 rows."""
    rows = (2048 // max(w, 1)) // 64 * 64
    return int(min(512, max(64, rows)))


def _as_codes(a, name):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of uint64 words, got {type(a).__name__}")
    if a.dtype != np.uint64:
        raise TypeError(f"{name} must have dtype uint64, got {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, words), got shape {a.shape}")
    return np.ascontiguousarray(a)


def hamming_topk(codes, queries, k, alive=None):
    """k nearest codes per query under Hamming distance, fused scan + bounded heap.

    codes: uint64 (n, w); queries: uint64 (nq, w); alive: uint8/bool (n,) or None
    (rows with alive == 0 are skipped).  Returns (dist int32 (nq, k), idx int64 (nq, k))
    sorted by (dist, idx) ascending -- ties go to the smaller row index.  When fewer
    than k rows are eligible the tail is padded with idx = -1, dist = 2**31 - 1.
    Read-only inputs are accepted; nothing is copied unless an input is not C-contiguous.
    """
    codes = _as_codes(codes, "codes")
    queries = _as_codes(queries, "queries")
    if codes.shape[1] != queries.shape[1]:
        raise ValueError(
            f"codes have {codes.shape[1]} words per row but queries have {queries.shape[1]}"
        )
    k = _check_k(k)
    alive_arr, has_alive = _alive_arg(alive, codes.shape[0])
    w = codes.shape[1]
    return _hamming_topk_kernel(codes, queries, k, alive_arr, has_alive, _block_rows(w), _word_group(w))


def _check_k(k):
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an integer, got {type(k).__name__}")
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return int(k)


def _alive_arg(alive, n):
    """(uint8 (n,) array, True), or (empty, False) for None: the scans' row mask."""
    if alive is None:
        return np.empty(0, np.uint8), False
    if not isinstance(alive, np.ndarray):
        raise TypeError(f"alive must be a numpy uint8 array or None, got {type(alive).__name__}")
    if alive.dtype == np.bool_:
        alive = alive.view(np.uint8)
    if alive.dtype != np.uint8:
        raise TypeError(f"alive must have dtype uint8 (or bool), got {alive.dtype}")
    if alive.shape != (n,):
        raise ValueError(f"alive must have shape ({n},), got {alive.shape}")
    return np.ascontiguousarray(alive), True


# --------------------------------------------------------------------------- full matrix
@njit(cache=True, nogil=True)
def _hamming_distances_kernel(codes, queries):
    n, w = codes.shape
    nq = queries.shape[0]
    out = np.empty((nq, n), np.int32)
    for r in range(n):
        row = codes[r]
        for q in range(nq):
            qv = queries[q]
            s = 0
            for j in range(w):
                s += popcount64(row[j] ^ qv[j])
            out[q, r] = s
    return out


def hamming_distances(codes, queries):
    """Full Hamming distance matrix D[q, r] = sum_j popcount(queries[q, j] ^ codes[r, j]), int32 (nq, n)."""
    codes = _as_codes(codes, "codes")
    queries = _as_codes(queries, "queries")
    if codes.shape[1] != queries.shape[1]:
        raise ValueError(
            f"codes have {codes.shape[1]} words per row but queries have {queries.shape[1]}"
        )
    return _hamming_distances_kernel(codes, queries)


# --------------------------------------------------------------------------- packing
@njit(cache=True, nogil=True)
def _pack_signs_kernel(x):
    n, d = x.shape
    w = (d + 63) // 64
    out = np.zeros((n, w), np.uint64)
    for i in range(n):
        xi = x[i]
        for wi in range(w):
            base = wi * 64
            nb = min(64, d - base)
            v = np.uint64(0)
            for b in range(nb):
                if xi[base + b] > 0:
                    v |= np.uint64(1) << np.uint64(b)
            out[i, wi] = v
    return out


def pack_signs(x):
    """Sign bits of float rows: bit j of a code is 1 iff x[:, j] > 0 (NaN and -0.0 give 0).

    Bit order: dimension j -> word j // 64, bit j % 64 (LSB first); the padding bits of the
    last word are 0.  On a little-endian host ``codes.view(np.uint8)`` is therefore the
    same as ``np.packbits(x > 0, axis=1, bitorder="little")`` zero-padded to 8-byte rows.
    x: float32 or float64 (n, d).  Returns uint64 (n, ceil(d / 64)).
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy float array, got {type(x).__name__}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"x must have dtype float32 or float64, got {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (n, d), got shape {x.shape}")
    return _pack_signs_kernel(np.ascontiguousarray(x))
