"""Codes stored word-major in blocks of rows, and the top-k scans over them.

Row r of a table of n codes of w uint64 words lives in block r // B, column
r % B: ``blocks[r // B, t, r % B]`` is word t of row r. Each block is one
contiguous (w, B) array, so a scan reads every word column at unit stride and
vectorizes (vpopcntq) without first transposing rows, a transpose that cost
as much as the bit-plane scan itself (0.4 of 0.87 ms per 100k x 384 bits).
With B equal to the engine's chunk size a block holds the same rows, in the
same bytes, as a row-major chunk of the table.
"""
import numpy as np
from numba import njit

from . import float_topk as ft
from .bitplane import _plane_block_dists, check_search_args, estimate_scores, estimate_terms
from .half import half_to_float
from .hamming import (
    PAD_DIST,
    PAD_IDX,
    _accumulate_words,
    _alive_arg,
    _as_codes,
    _check_k,
    _heaps_to_sorted,
    _push_block,
    _word_group,
)

__all__ = [
    "BLOCK",
    "to_blocks",
    "from_blocks",
    "hamming_topk_blocks",
    "bitplane_topk",
    "bitplane_topk_blocks",
    "bitplane_estimate_topk_blocks",
    "bitplane_estimate_search_blocks",
]

BLOCK = 256  # rows per block: 256 x 6 words = 12 KiB, in L1 while a batch's queries visit it


def to_blocks(codes, block=BLOCK):
    """uint64 rows (n, w) -> blocks uint64 (ceil(n / block), w, block), zero-padded."""
    codes = _as_codes(codes, "codes")
    n, w = codes.shape
    nb = -(-n // block)
    padded = np.zeros((nb * block, w), np.uint64)
    padded[:n] = codes
    return np.ascontiguousarray(padded.reshape(nb, block, w).transpose(0, 2, 1))


def from_blocks(blocks, n):
    """The first n rows (n, w) of blocks (nb, w, B), row-major."""
    _check_blocks(blocks, n)
    nb, w, block = blocks.shape
    return np.ascontiguousarray(blocks.transpose(0, 2, 1).reshape(nb * block, w)[:n])


def _check_blocks(blocks, n):
    if not isinstance(blocks, np.ndarray) or blocks.dtype != np.uint64 or blocks.ndim != 3:
        raise TypeError("blocks must be a uint64 array (nblocks, words, rows per block)")
    if not blocks.flags.c_contiguous:
        raise ValueError("blocks must be C-contiguous")
    if not 0 <= n <= blocks.shape[0] * blocks.shape[2]:
        raise ValueError(f"n = {n} rows do not fit {blocks.shape[0]} blocks of {blocks.shape[2]}")


@njit(cache=True, nogil=True, inline="always")
def _mask_dead(dv, al, b0, m):
    big = np.int64(PAD_DIST)  # a distance that can never enter a heap
    for r in range(m):
        if al[b0 + r] == 0:
            dv[r] = big


@njit(cache=True, nogil=True)
def _hamming_blocks_kernel(blocks, n, queries, k, alive, has_alive, group):
    nblk, w, block = blocks.shape
    nq = queries.shape[0]
    hd = np.full((nq, k), PAD_DIST, np.int32)
    hi = np.full((nq, k), PAD_IDX, np.int64)
    dist = np.empty(block, np.int64)
    ngroups = (w + group - 1) // group
    for b in range(nblk):
        b0 = b * block
        m = min(n - b0, block)
        if m <= 0:
            break
        tr = blocks[b]
        dv = dist[:m]
        for q in range(nq):
            qv = queries[q]
            if w == 0:
                dv[:] = 0
            j = 0  # the w words in ngroups near-equal fused passes (see _accumulate_words)
            for g in range(ngroups):
                left = ngroups - g
                cnt = (w - j + left - 1) // left
                _accumulate_words(tr, j, cnt, qv, dv, m, g == 0)
                j += cnt
            if has_alive:
                _mask_dead(dv, alive, b0, m)
            _push_block(dv, m, b0, hd[q], hi[q], k)
    _heaps_to_sorted(hd, hi)
    return hd, hi


def hamming_topk_blocks(blocks, n, queries, k, alive=None):
    """`hamming_topk` over the first n rows of a blocked table; same results and padding."""
    _check_blocks(blocks, n)
    queries = _as_codes(queries, "queries")
    if queries.shape[1] != blocks.shape[1]:
        raise ValueError(f"blocks have {blocks.shape[1]} words per row but queries have {queries.shape[1]}")
    alive_arr, has_alive = _alive_arg(alive, n)
    w = blocks.shape[1]
    return _hamming_blocks_kernel(blocks, n, queries, _check_k(k), alive_arr, has_alive, _word_group(w))


@njit(cache=True, nogil=True)
def _bitplane_blocks_kernel(blocks, n, planes, k, alive, has_alive):
    nblk, w, block = blocks.shape
    nq = planes.shape[0]
    hd = np.full((nq, k), PAD_DIST, np.int32)
    hi = np.full((nq, k), PAD_IDX, np.int64)
    dist = np.empty(block, np.int64)
    for b in range(nblk):
        b0 = b * block
        m = min(n - b0, block)
        if m <= 0:
            break
        tr = blocks[b]
        dv = dist[:m]
        for q in range(nq):
            _plane_block_dists(tr, m, planes[q], dv)
            if has_alive:
                _mask_dead(dv, alive, b0, m)
            _push_block(dv, m, b0, hd[q], hi[q], k)
    _heaps_to_sorted(hd, hi)
    return hd, hi


def bitplane_topk(codes, planes, k, alive=None):
    """k best codes per query by the bit-plane distance D (smaller is better).

    codes uint64 (n, w); planes uint64 (nq, B, w) from `quantize_planes`;
    alive uint8/bool (n,) or None. Returns (dist int32 (nq, k), idx int64
    (nq, k)) sorted by (dist, idx); padded with idx -1, dist 2**31 - 1.
    Row-major codes are copied into blocks first: the engine keeps its codes
    blocked and calls `bitplane_topk_blocks` directly.
    """
    codes = _as_codes(codes, "codes")
    return bitplane_topk_blocks(to_blocks(codes), codes.shape[0], planes, k, alive)


def bitplane_topk_blocks(blocks, n, planes, k, alive=None):
    """`bitplane_topk` over the first n rows of a blocked table; same results and padding."""
    _check_blocks(blocks, n)
    if not isinstance(planes, np.ndarray) or planes.dtype != np.uint64 or planes.ndim != 3:
        raise TypeError("planes must be a uint64 array (nq, bits, words)")
    if planes.shape[2] != blocks.shape[1]:
        raise ValueError(f"blocks have {blocks.shape[1]} words per row but planes have {planes.shape[2]}")
    alive_arr, has_alive = _alive_arg(alive, n)
    return _bitplane_blocks_kernel(blocks, n, np.ascontiguousarray(planes), _check_k(k), alive_arr, has_alive)


@njit(cache=True, nogil=True)
def _estimate_blocks_kernel(blocks, n, planes, qa, qb, factors, add_w, k, alive, has_alive):
    nblk, w, block = blocks.shape
    nq = planes.shape[0]
    hs, hr = ft.new_heaps(nq, k)
    dist = np.empty(block, np.int64)
    sv = np.empty(block, np.float32)
    mul = np.empty(block, np.float32)
    add = np.empty(block, np.float32)
    aw = np.float32(add_w)
    for b in range(nblk):
        b0 = b * block
        m = min(n - b0, block)
        if m <= 0:
            break
        tr = blocks[b]
        dv = dist[:m]
        fm = factors[0, b0:b0 + m]
        fa = factors[1, b0:b0 + m]
        for r in range(m):  # the block's factors, widened once for all queries
            mul[r] = half_to_float(fm[r])
        for r in range(m):
            add[r] = aw * half_to_float(fa[r])
        for q in range(nq):
            _plane_block_dists(tr, m, planes[q], dv)
            a = qa[q]
            c = qb[q]
            for r in range(m):
                sv[r] = mul[r] * (a - c * np.float32(dv[r])) + add[r]
            if has_alive:
                for r in range(m):
                    if alive[b0 + r] == 0:
                        sv[r] = -np.inf
            ft.push_block(sv, m, b0, hs[q], hr[q], k)
    ft.heaps_to_sorted(hs, hr)
    return hs, hr


def bitplane_estimate_topk_blocks(blocks, n, planes, qa, qb, factors, add_w, k, alive=None):
    """k best rows per query by a corrected estimate of the inner product.

    With D the bit-plane distance of row r (see native.bitplane) and
    (mul_r, add_r) = factors[:, r] (float16, passed as uint16 bits (2, >= n);
    one contiguous row per factor, so they load as vectors):

        est[q, r] = mul_r * (qa[q] - qb[q] * D[q, r]) + add_w * add_r

    qa, qb float32 (nq,). (qa - qb * D) is the query's inner product with the
    row's +-1 signs; mul_r and add_r turn it into an estimate of the inner
    product with the vector itself (see codecs/binary.py). Returns (scores
    float32 (nq, k), rows int64 (nq, k)), best first, ties to the smaller row;
    padded with row -1, score -inf.
    """
    _check_blocks(blocks, n)
    if not isinstance(planes, np.ndarray) or planes.dtype != np.uint64 or planes.ndim != 3:
        raise TypeError("planes must be a uint64 array (nq, bits, words)")
    if planes.shape[2] != blocks.shape[1]:
        raise ValueError(f"blocks have {blocks.shape[1]} words per row but planes have {planes.shape[2]}")
    nq = planes.shape[0]
    qa = np.ascontiguousarray(qa, dtype=np.float32)
    qb = np.ascontiguousarray(qb, dtype=np.float32)
    if qa.shape != (nq,) or qb.shape != (nq,):
        raise ValueError(f"qa and qb must have shape ({nq},)")
    if not isinstance(factors, np.ndarray) or factors.dtype != np.uint16 or factors.ndim != 2 or factors.shape[0] != 2:
        raise TypeError("factors must be the uint16 bits of float16 (2, rows)")
    if factors.shape[1] < n:
        raise ValueError(f"factors cover {factors.shape[1]} rows, fewer than n = {n}")
    alive_arr, has_alive = _alive_arg(alive, n)
    return _estimate_blocks_kernel(blocks, n, np.ascontiguousarray(planes), qa, qb, np.ascontiguousarray(factors),
                                   float(add_w), _check_k(k), alive_arr, has_alive)


@njit(cache=True, nogil=True)
def _estimate_search_kernel(blocks, n, factors, q, mean, has_mean, bits, mul_scale, add_w, l2, k, alive, has_alive):
    planes, qa, qb = estimate_terms(q, mean, has_mean, bits, blocks.shape[1])
    est, rows = _estimate_blocks_kernel(blocks, n, planes, qa, qb, factors, add_w, k, alive, has_alive)
    estimate_scores(est, rows, q, mean, has_mean, mul_scale, l2)
    return est, rows


def bitplane_estimate_search_blocks(blocks, n, factors, q, mean, bits, mul_scale, add_w, l2, k, alive=None,
                                    trusted=False):
    """The binary codec's asymmetric search in one call: center and quantize the
    queries, scan (`bitplane_estimate_topk_blocks`), turn estimates into scores.

    q float32 (nq, d) with d <= 64 * words; mean float32 (d,) or None; bits the
    query bits; mul_scale, add_w the codec's factor scales (add_w = add_scale /
    mul_scale); l2: the metric's own term is 2 <q, mean> - |q|^2, else <q, mean>.
    Returns (scores float32 (nq, k), rows int64 (nq, k)), best first; padded
    with row -1, score -inf. One call, because a single query's Python work
    around the kernel (a dozen small numpy operations) cost ~10% of its search.
    trusted: the engine's call, alive a uint8 (n,) array and every argument
    already in the kernel's types: the checks are skipped.
    """
    if trusted:
        has_mean = mean is not None
        return _estimate_search_kernel(blocks, n, factors, q,
                                       mean if has_mean else np.zeros(q.shape[1], np.float32), has_mean,
                                       int(bits), np.float32(mul_scale), float(add_w), bool(l2), int(k), alive, True)
    _check_blocks(blocks, n)
    mean, has_mean = check_search_args(q, mean, bits, blocks.shape[1])
    if not isinstance(factors, np.ndarray) or factors.dtype != np.uint16 or factors.ndim != 2 or factors.shape[0] != 2:
        raise TypeError("factors must be the uint16 bits of float16 (2, rows)")
    if factors.shape[1] < n or not factors.flags.c_contiguous:
        raise ValueError(f"factors must be C-contiguous and cover n = {n} rows")
    alive_arr, has_alive = _alive_arg(alive, n)
    return _estimate_search_kernel(blocks, n, factors, q, mean, has_mean, int(bits), np.float32(mul_scale),
                                   float(add_w), bool(l2), _check_k(k), alive_arr, has_alive)
