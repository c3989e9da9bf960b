"""Timing, recall, thread limits and process memory, shared by every runner."""
from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import numpy as np

SearchFn = Callable[[np.ndarray], np.ndarray]  # (nq, d) queries -> (nq, k) ids


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


_limits: list[int] = []  # the thread_limit blocks in force, innermost last


def current_threads() -> int:
    """The innermost thread_limit in force (all cores outside any): for peers
    whose builds take a thread count as an argument (DiskANN, SVS)."""
    return _limits[-1] if _limits else cores()


@contextlib.contextmanager
def thread_limit(n: int) -> Iterator[None]:
    """Cap the libraries' own thread pools: BLAS (numpy, used by vecstore's
    exact kind and the peers' reranks) and faiss's OpenMP. usearch and hnswlib
    take a thread count per call instead."""
    _limits.append(n)
    try:
        import faiss

        old_omp = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(n)
    except ImportError:
        faiss = None
    try:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=n)
    except ImportError:  # threadpoolctl is a bench extra: without it BLAS keeps its own pool size
        limiter = contextlib.nullcontext()
    try:
        with limiter:
            yield
    finally:
        _limits.pop()
        if faiss is not None:
            faiss.omp_set_num_threads(old_omp)


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean fraction of the true top-k found in the returned top-k."""
    hits = 0
    for f, t in zip(found[:, :k], truth[:, :k]):
        hits += len(np.intersect1d(f[f >= 0], t))
    return hits / (len(truth) * k)


def time_single(search: SearchFn, xq: np.ndarray, before_each: Callable[[], None] | None = None):
    """One query per call. Returns (ids (nq, k), latencies in seconds).

    before_each (e.g. evicting the page cache) runs outside the timed region."""
    ids, lat = [], np.empty(len(xq))
    for i in range(len(xq)):
        if before_each is not None:
            before_each()
        q = xq[i : i + 1]
        t0 = time.perf_counter()
        ids.append(search(q))
        lat[i] = time.perf_counter() - t0
    return np.vstack(ids), lat


def time_batch(search: SearchFn, xq: np.ndarray) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    ids = search(xq)
    return ids, time.perf_counter() - t0


def split_across_threads(search: SearchFn, xq: np.ndarray, threads: int) -> np.ndarray:
    """Run a batch as `threads` slices in parallel: how a caller of a
    single-threaded but GIL-releasing search uses all cores."""
    if threads <= 1 or len(xq) < 2 * threads:
        return search(xq)
    parts = np.array_split(xq, threads)
    with ThreadPoolExecutor(threads) as pool:
        return np.vstack(list(pool.map(search, parts)))


def latency_stats(lat: np.ndarray) -> dict[str, float]:
    return {
        "qps_single": len(lat) / float(lat.sum()),
        "p50_ms": float(np.percentile(lat, 50) * 1e3),
        "p99_ms": float(np.percentile(lat, 99) * 1e3),
    }


def rss_bytes() -> int:
    """Resident set size of this process now (file-backed pages included)."""
    return _status_kb("VmRSS") * 1024


def peak_rss_bytes() -> int:
    """High-water mark of the resident set of this process."""
    return _status_kb("VmHWM") * 1024


def reset_peak_rss() -> bool:
    """Restart the VmHWM high-water mark (Linux >= 4.0); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def dir_bytes(path: str) -> int:
    """Bytes allocated on disk by every file under path (sparse files count
    what they use, not their apparent size)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total
