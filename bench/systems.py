"""What every benchmarked system (vecstore or a peer) provides to the harness."""
from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

Params = dict[str, Any]


class System:
    """One index configuration whose search-time knob the harness sweeps.

    Subclasses set `name` (shown in tables and the plot), `family` (groups
    colours), `requires` (modules that must import) and `ram_note` (how
    ram_bytes is computed, printed under the results).
    """

    name: str = ""
    family: str = ""
    requires: tuple[str, ...] = ()
    ram_note: str = ""
    #: True when search reads from files whose page cache the harness may evict
    reads_disk: bool = False

    def missing(self) -> str | None:
        """Why this system cannot run here, or None."""
        for module in self.requires:
            try:
                importlib.import_module(module)
            except Exception as exc:  # a broken install is as missing as an absent one
                return f"{module} not importable ({type(exc).__name__}: {exc})"
        return None

    def sweep(self) -> list[Params]:
        """Search parameters to measure, cheapest first."""
        return [{}]

    def build(self, xb: np.ndarray, workdir: str) -> None:
        raise NotImplementedError

    def search(self, xq: np.ndarray, k: int, params: Params, threads: int) -> np.ndarray:
        """ids (nq, k) int64, best first, -1 where fewer were found."""
        raise NotImplementedError

    def ram_bytes(self) -> int:
        """Bytes that must stay in RAM to serve searches at this speed."""
        raise NotImplementedError

    def ram_rss_delta(self) -> int | None:
        """Resident-set growth of building or loading the index, where the
        system measures it: a check on ram_bytes, logged and kept per point."""
        return None

    def disk_bytes(self) -> int:
        """Bytes on disk (0 for an in-memory index that is never saved)."""
        return 0

    def candidates(self, k: int, params: Params) -> int | None:
        """Vectors reranked exactly per query, when the system reranks."""
        return None

    def evict(self) -> None:
        """Drop this system's files from the page cache (cold-read runs)."""

    def close(self) -> None:
        pass


def label(params: Params) -> str:
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()) or "-"


def rerank_from_ram(xb: np.ndarray, xq: np.ndarray, cand: np.ndarray, k: int) -> np.ndarray:
    """Exact inner-product top-k of each query among its candidate rows of xb.

    cand (nq, c) int64 rows, -1 for none. Queries go in small groups so the
    gathered (group, c, d) block stays in cache."""
    nq = len(xq)
    out = np.full((nq, k), -1, dtype=np.int64)
    for lo in range(0, nq, 16):
        c = cand[lo : lo + 16]
        vecs = xb[np.maximum(c, 0)]
        scores = np.matmul(vecs, xq[lo : lo + 16, :, None])[:, :, 0]
        scores[c < 0] = -np.inf
        kk = min(k, c.shape[1])
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
        best = np.take_along_axis(part, order, axis=1)
        found = np.take_along_axis(c, best, axis=1)
        found[np.take_along_axis(scores, best, axis=1) == -np.inf] = -1
        out[lo : lo + 16, :kk] = found
    return out


def rerank_parallel(xb: np.ndarray, xq: np.ndarray, cand: np.ndarray, k: int, threads: int) -> np.ndarray:
    """rerank_from_ram with the queries split over `threads` threads (numpy
    releases the GIL in the gather and the products)."""
    if threads <= 1 or len(xq) < 2 * threads:
        return rerank_from_ram(xb, xq, cand, k)
    parts = np.array_split(np.arange(len(xq)), threads)
    with ThreadPoolExecutor(threads) as pool:
        return np.vstack(list(pool.map(lambda r: rerank_from_ram(xb, xq[r], cand[r], k), parts)))


def pq_subspaces(dim: int, bytes_per_dim: float) -> int:
    """Largest M dividing dim with M <= dim * bytes_per_dim (PQ48 at 384-d for 1/8)."""
    target = max(1, int(dim * bytes_per_dim))
    for m in range(target, 0, -1):
        if dim % m == 0:
            return m
    return 1


def ivf_lists(n: int) -> int:
    """IVF list count: a power of two near 4 * sqrt(n), with >= 39 training
    points per centroid (faiss's rule of thumb)."""
    target = 4 * np.sqrt(max(n, 1))
    nlist = 1 << int(round(np.log2(max(target, 1))))
    while nlist > 1 and nlist * 39 > n:
        nlist //= 2
    return max(1, nlist)


def ivf_probes(nlist: int) -> list[int]:
    """The nprobe values every IVF system sweeps (vecstore's and faiss's alike)."""
    return [p for p in (8, 16, 32, 64, 128, 256) if p <= nlist] or [nlist]
