"""Product-quantization scans with fused top-k: ADC and SDC, 8-bit and 4-bit.

A PQ code has one sub-code per sub-quantizer j < m. With a lookup table
T (m, ks) of per-sub-space scores, the score of a code c is

    s(c) = sum_j T[j, c[j]]                      (higher is better)

ADC builds T from the float query (T[j, i] = score of query part j against
centroid i of sub-quantizer j); SDC codes the query too and reads
T[j, :] = S[j, qcode[j], :] from a precomputed (m, ks, ks) table S of
centroid-pair scores. Both end in the same table scan.

8-bit codes are one byte per sub-code (ks = 256). 4-bit codes (ks = 16) hold
two sub-codes per byte, sub-code 2p in the low nibble of byte p and 2p + 1 in
the high one (a zero nibble pads odd m). The 4-bit scan first merges each pair
of 16-entry tables into one 256-entry table indexed by the whole byte, so it
reads one table entry per byte, like the 8-bit scan.
"""
import numpy as np
from numba import njit

from .float_topk import as_array, check_common, heaps_to_sorted, mask_dead, new_heaps, push_block

__all__ = ["pq_adc_topk", "pq4_adc_topk", "pq_sdc_topk", "pair_tables", "sdc_query_tables"]

_BLOCK = 256  # rows scored per block before they are offered to the top-k heap


@njit(cache=True, nogil=True)
def _table_scan(codes, tables, k, alive):
    """Top-k rows by sum_j tables[q, j, codes[r, j]] (byte-indexed tables).

    Queries are the outer loop: one query's table (m x 1 KiB) stays in
    L1/L2 for the whole pass, while the codes (m bytes per row) stream again
    per query. Blocks of rows inside queries measured slower for batches:
    every block then reloaded all the queries' tables.
    """
    n, m = codes.shape
    nq = tables.shape[0]
    hs, hr = new_heaps(nq, k)
    sv = np.empty(_BLOCK, np.float32)
    m4 = m - m % 4
    for q in range(nq):
        t = tables[q]
        for b0 in range(0, n, _BLOCK):
            mm = min(n, b0 + _BLOCK) - b0
            blk = codes[b0:b0 + mm]
            for r in range(mm):
                row = blk[r]
                # four independent sums: one running sum is a chain of float
                # adds whose latency, not the table reads, sets the pace
                s0 = np.float32(0.0)
                s1 = np.float32(0.0)
                s2 = np.float32(0.0)
                s3 = np.float32(0.0)
                for j in range(0, m4, 4):
                    s0 += t[j, row[j]]
                    s1 += t[j + 1, row[j + 1]]
                    s2 += t[j + 2, row[j + 2]]
                    s3 += t[j + 3, row[j + 3]]
                for j in range(m4, m):
                    s0 += t[j, row[j]]
                sv[r] = (s0 + s1) + (s2 + s3)
            mask_dead(sv, alive[b0:b0 + mm], mm)
            push_block(sv, mm, b0, hs[q], hr[q], k)
    heaps_to_sorted(hs, hr)
    return hs, hr


@njit(cache=True, nogil=True)
def _pair_tables(tables):
    nq, m, _ = tables.shape
    half = (m + 1) // 2
    out = np.zeros((nq, half, 256), np.float32)
    for q in range(nq):
        for p in range(half):
            lo = tables[q, 2 * p]
            has_hi = 2 * p + 1 < m
            for b in range(256):
                v = lo[b & 15]
                if has_hi:
                    v += tables[q, 2 * p + 1, b >> 4]
                out[q, p, b] = v
    return out


@njit(cache=True, nogil=True)
def _sdc_query_tables(sdc, qcodes):
    m, ks, _ = sdc.shape
    nq = qcodes.shape[0]
    out = np.empty((nq, m, ks), np.float32)
    for q in range(nq):
        for j in range(m):
            out[q, j, :] = sdc[j, qcodes[q, j], :]
    return out


def pair_tables(tables):
    """(nq, m, 16) 4-bit tables -> (nq, ceil(m/2), 256) byte tables:
    out[q, p, b] = tables[q, 2p, b & 15] + tables[q, 2p + 1, b >> 4] (second term 0 past m)."""
    tables = as_array(tables, "tables", np.float32, 3)
    if tables.shape[2] != 16:
        raise ValueError(f"4-bit tables must have 16 entries per sub-quantizer, got {tables.shape[2]}")
    return _pair_tables(tables)


def sdc_query_tables(sdc, qcodes):
    """Per-query SDC tables out[q, j, :] = sdc[j, qcodes[q, j], :]; qcodes unpacked (nq, m) uint8."""
    sdc = as_array(sdc, "sdc", np.float32, 3)
    qcodes = as_array(qcodes, "qcodes", np.uint8, 2)
    m, ks, ks2 = sdc.shape
    if ks != ks2 or ks not in (16, 256):
        raise ValueError(f"sdc must have shape (m, ks, ks) with ks 16 or 256, got {sdc.shape}")
    if qcodes.shape[1] != m:
        raise ValueError(f"qcodes have {qcodes.shape[1]} sub-codes but sdc has {m} sub-quantizers")
    if qcodes.size and int(qcodes.max()) >= ks:
        raise ValueError(f"qcodes contain {int(qcodes.max())}, beyond the {ks} centroids")
    return _sdc_query_tables(sdc, qcodes)


def pq_adc_topk(codes, tables, k, alive=None):
    """8-bit ADC: best k rows per query by sum_j tables[q, j, codes[r, j]].

    codes uint8 (n, m); tables float32 (nq, m, 256); alive uint8/bool (n,) or
    None (rows with alive == 0 are skipped). Returns (scores float32 (nq, k),
    rows int64 (nq, k)), best first, ties to the smaller row, padded with
    row -1 and score -inf. Read-only inputs are accepted.
    """
    codes = as_array(codes, "codes", np.uint8, 2)
    tables = as_array(tables, "tables", np.float32, 3)
    if tables.shape[1:] != (codes.shape[1], 256):
        raise ValueError(f"tables must have shape (nq, {codes.shape[1]}, 256), got {tables.shape}")
    k, alive = check_common(codes, k, alive)
    return _table_scan(codes, tables, k, alive)


def pq4_adc_topk(codes, tables, k, alive=None):
    """4-bit ADC: codes uint8 (n, ceil(m/2)) two sub-codes per byte; tables
    float32 (nq, m, 16). Same results contract as `pq_adc_topk`."""
    codes = as_array(codes, "codes", np.uint8, 2)
    paired = pair_tables(tables)
    if paired.shape[1] != codes.shape[1]:
        raise ValueError(
            f"{tables.shape[1]} sub-quantizers need {paired.shape[1]} code bytes, codes have {codes.shape[1]}"
        )
    k, alive = check_common(codes, k, alive)
    return _table_scan(codes, paired, k, alive)


def pq_sdc_topk(codes, qcodes, sdc, k, alive=None):
    """SDC: the query is a code too. qcodes uint8 (nq, m) unpacked sub-codes;
    sdc float32 (m, ks, ks) centroid-pair scores with ks 256 (codes (n, m)) or
    16 (codes packed as in `pq4_adc_topk`). Score of row r:
    sum_j sdc[j, qcodes[q, j], c_r[j]]. Same results contract as `pq_adc_topk`."""
    tables = sdc_query_tables(sdc, qcodes)
    if tables.shape[2] == 16:
        return pq4_adc_topk(codes, tables, k, alive)
    return pq_adc_topk(codes, tables, k, alive)
