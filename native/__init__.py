"""vecstore jitted kernels (numpy + numba only).

Public API:
    hamming_topk(codes, queries, k, alive=None) -> (dist int32 (nq, k), idx int64 (nq, k))
    hamming_distances(codes, queries)           -> int32 (nq, n)
    pack_signs(x)                               -> uint64 (n, ceil(d / 64))
    rerank_topk(xq, vecs, cand, k, metric)      -> (scores float32 (nq, k), rows int64 (nq, k))
    rerank_ids(xq, vecs, found, cand_ids, k, metric) -> (scores float32 (nq, k), ids int64 (nq, k))
    rerank_rows(q, rows, ids, k, metric)        -> one query over all rows (float32 or float16 bits): (scores (k,), ids (k,))
    candidate_ids(slots, scores, floor, ids)    -> one query's ids to rerank, ascending
    exact_scores(xq, vecs, metric)              -> float32 (nq, m)
    quantize_planes(x, bits)                    -> uint64 (nq, bits, ceil(d / 64))
    bitplane_topk(codes, planes, k, alive=None) -> (dist int32 (nq, k), idx int64 (nq, k))
    bitplane_distances(codes, planes)           -> int32 (nq, n)
    to_blocks(codes) / from_blocks(blocks, n)   -> word-major blocks of rows and back
    hamming_topk_blocks(blocks, n, queries, k, alive=None), bitplane_topk_blocks(blocks, n, planes, k, alive=None)
                                                -> the same results as the row-major scans
    bitplane_estimate_topk_blocks(blocks, n, planes, qa, qb, factors, add_w, k, alive=None)
                                                -> (scores float32 (nq, k), rows int64 (nq, k))
    bitplane_estimate_topk_regions(pool_words, pool_slots, starts, lengths, lists, planes, qa, qb, add_w, k, alive=None)
                                                -> one query's (scores float32 (k,), slots int64 (k,)) over IVF lists
    bitplane_estimate_search_blocks(...), bitplane_estimate_search_regions(...)
                                                -> the binary codec's whole asymmetric search (quantize, scan, scores)
    lmdb_pages.leaf_pages(buf, psize, txnid, name, keys)
                                                -> int64 (n,): the LMDB leaf page of each key, from the branch pages
Plain-numpy references of each live in ``native.reference`` (``native.reference_lmdb`` for leaf_pages).
"""
from .bitplane import bitplane_distances, quantize_planes
from .blocks import (
    bitplane_estimate_search_blocks,
    bitplane_estimate_topk_blocks,
    bitplane_topk,
    bitplane_topk_blocks,
    from_blocks,
    hamming_topk_blocks,
    to_blocks,
)
from .ivf import bitplane_estimate_search_regions, bitplane_estimate_topk_regions
from .hamming import PAD_DIST, PAD_IDX, hamming_distances, hamming_topk, pack_signs
from .popcount import popcount64
from .rerank import candidate_ids, exact_scores, rerank_ids, rerank_rows, rerank_topk

__all__ = [
    "hamming_topk",
    "bitplane_topk",
    "bitplane_distances",
    "bitplane_topk_blocks",
    "bitplane_estimate_topk_blocks",
    "bitplane_estimate_topk_regions",
    "bitplane_estimate_search_blocks",
    "bitplane_estimate_search_regions",
    "hamming_topk_blocks",
    "to_blocks",
    "from_blocks",
    "quantize_planes",
    "hamming_distances",
    "pack_signs",
    "rerank_topk",
    "rerank_ids",
    "rerank_rows",
    "candidate_ids",
    "exact_scores",
    "popcount64",
    "PAD_DIST",
    "PAD_IDX",
]
