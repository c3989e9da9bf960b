"""What a rerank from disk costs when the page cache does not hold the vectors.

    python -m bench.cold --dataset ../shared/datasets/pypi-minilm

Builds vecstore collections of the default kind (float32 vectors, and float16
when the engine stores them) and measures single queries on one thread in
three states, for several oversampling values:
- warm: every page cached and mapped;
- fault: pages cached but unmapped from the process before each query (the
  cost of first touching a mapped page, high in some VMs);
- cold: pages unmapped and dropped from the page cache before each query.
Then checks what `drop_caches` does to an open LMDB environment, and after a
reopen, and measures what the disk itself serves: random 4 KiB reads of the
data file per second, from Python threads at several thread counts, and from
one thread that asks for a query's worth of pages at once (posix_fadvise
WILLNEED, as the engine's cold reranks do) before reading them. A cold rerank
of a few dozen scattered candidates reads about one page each, so the second
rate over the candidates bounds its queries per second. Writes the
`## Cold reads` section of bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import random
import shlex
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor


import numpy as np

from vecstore.engine.storage import READ_WORKERS

from . import report
from .coldcache import LmdbEvictor, drop_all_caches, resident_fraction
from .datasets import load_folder, synthetic
from .measure import latency_stats, recall_at_k, thread_limit, time_single
from .vecstore_runner import count_reads

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = 4096
DISK_THREADS = (1, 4, 8, 16, 32)
AHEAD_BATCH = 40  # pages asked for at once: a cold query's candidates


def build(path: str, xb: np.ndarray, **create):
    import vecstore

    shutil.rmtree(path, ignore_errors=True)
    db = vecstore.open(path)
    col = db.create_collection("bench", dim=xb.shape[1], metric="cosine", **create)
    for lo in range(0, len(xb), 10_000):
        col.upsert(np.arange(lo, min(lo + 10_000, len(xb))), xb[lo : lo + 10_000])
    return db, col


def disk_reads_per_s(path: str, reads: int = 640, seed: int = 0, batch: int = AHEAD_BATCH) -> tuple[list[tuple[int, float]], float]:
    """Random 4 KiB reads per second of a file nobody maps, its pages dropped
    from the page cache before each measurement: ([(threads, rate)] for Python
    threads reading one page at a time, rate of one thread that asks for
    `batch` pages at once (WILLNEED) and then reads them)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        pages = os.fstat(fd).st_size // PAGE
        rnd = random.Random(seed)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)  # no readahead around each read
        threaded = []
        for threads in DISK_THREADS:
            at = [rnd.randrange(pages) * PAGE for _ in range(reads)]
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            with ThreadPoolExecutor(threads) as pool:
                t0 = time.perf_counter()
                list(pool.map(lambda off: os.pread(fd, PAGE, off), at))
                threaded.append((threads, reads / (time.perf_counter() - t0)))
        at = sorted(rnd.randrange(pages) * PAGE for _ in range(reads))
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        t0 = time.perf_counter()
        for lo in range(0, reads, batch):
            group = at[lo : lo + batch]
            for off in group:
                os.posix_fadvise(fd, off, PAGE, os.POSIX_FADV_WILLNEED)
            for off in group:
                os.pread(fd, PAGE, off)
        return threaded, reads / (time.perf_counter() - t0)
    finally:
        os.close(fd)


def states(col, path, xq, gt, oversampling, nq_cold, counts=None):
    """Warm, fault-only and cold single-query figures at one oversampling, and
    the keys read per query in the warm pass when counts (see count_reads)."""
    def one(q):
        return col.search(q, k=10, oversampling=oversampling).ids

    fault = LmdbEvictor(path, page_cache=False)
    cold = LmdbEvictor(path)
    out = {}
    with thread_limit(1):
        one(xq[:5])
        if counts is not None:
            counts[:] = [0, 0]
        ids, lat = time_single(one, xq)
        out["warm"] = {**latency_stats(lat), "recall": recall_at_k(ids, gt, 10)}
        if counts is not None and counts[1]:
            out["reads"] = counts[0] / counts[1]
        for name, evict in (("fault", fault), ("cold", cold)):
            ids, lat = time_single(one, xq[:nq_cold], before_each=evict)
            out[name] = {**latency_stats(lat), "recall": recall_at_k(ids, gt[:nq_cold], 10)}
        time_single(one, xq)  # warm again for the next setting
    return out


def drop_caches_experiment(db, col, path, xq):
    """Does drop_caches make an open LMDB cold? And after a reopen?"""
    import vecstore

    data = os.path.join(path, "data.mdb")

    def first_queries(c):
        with thread_limit(1):
            _, lat = time_single(lambda q: c.search(q, k=10).ids, xq[:100])
        return latency_stats(lat)["qps_single"]

    rows = []
    first_queries(col)
    rows.append(["after a warm pass", resident_fraction(data), first_queries(col)])
    allowed = drop_all_caches()
    rows.append(["drop_caches, environment still open", resident_fraction(data), first_queries(col)])
    db.close()
    drop_all_caches()
    resident = resident_fraction(data)
    db = vecstore.open(path)
    col = db.get_collection("bench")
    rows.append(["close, drop_caches, reopen", resident, first_queries(col)])
    return allowed, rows, db, col


def run(args) -> str:
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    ds = load_folder(args.dataset, nq=args.nq) if args.dataset else synthetic(args.synthetic, nq=args.nq or 1000, cache_dir=args.cache_dir)
    import vecstore.config as vc

    variants = [("float32 vectors", {})]
    if "float16" in getattr(vc, "VECTOR_DTYPES", ()):
        variants.append(("float16 vectors", {"vector_dtype": "float16"}))
        # the margin reads only the candidates that could still make the top k
        variants.append(("float16 vectors, margin 2",
                         {"vector_dtype": "float16", "quantization": {"kind": "binary", "margin": 2.0}}))
    overs = [float(o) for o in args.oversampling.split(",")]
    measured, dc, disk = [], None, None
    for name, create in variants:
        path = os.path.join(args.workdir, "cold-" + report.slug(name))
        db, col = build(path, ds.xb, **create)
        counts = count_reads(col) if "quantization" in create else None
        log(f"{name}: built, {col.info().disk_bytes / ds.n:,.0f} disk B/vec")
        for o in overs:
            r = states(col, path, ds.xq, ds.gt, o, args.cold_nq, counts)
            cand = r.get("reads", int(np.ceil(10 * o)))
            measured.append((name, o, cand, r))
            log(f"  oversampling {o:g}: {cand:.1f} reads, warm {r['warm']['qps_single']:,.0f} q/s, "
                f"fault {r['fault']['qps_single']:,.0f}, cold {r['cold']['qps_single']:,.0f} q/s")
        if dc is None:
            dc = drop_caches_experiment(db, col, path, ds.xq)
            db = dc[2]
        db.close()
        if disk is None:  # closed: no mapping keeps the file's pages cached
            disk = disk_reads_per_s(os.path.join(path, "data.mdb"))
            log("disk: " + ", ".join(f"{t} threads {r:,.0f} reads/s" for t, r in disk[0])
                + f"; {AHEAD_BATCH} at once from one thread {disk[1]:,.0f} reads/s")
        shutil.rmtree(path, ignore_errors=True)
    served = disk[1]
    rows = []
    for name, o, cand, r in measured:
        extra_us = (1 / r["cold"]["qps_single"] - 1 / r["warm"]["qps_single"]) / cand * 1e6
        fault_us = (1 / r["fault"]["qps_single"] - 1 / r["warm"]["qps_single"]) / cand * 1e6
        rows.append([name, f"{o:g}", round(cand, 1), r["warm"]["recall"], r["warm"]["qps_single"],
                     r["fault"]["qps_single"], r["cold"]["qps_single"], served / cand,
                     f"{r['cold']['p50_ms']:.2f} / {r['cold']['p99_ms']:.2f}", fault_us, extra_us])
    allowed, dc_rows = dc[0], dc[1]
    lines = ([f"**{args.note}**", ""] if args.note else []) + [
        f"`{args.command}`", "",
        f"{ds.name}: {ds.n:,} x {ds.dim}; default quantization; single queries on one thread, k = 10. "
        f"Machine: {report.machine()}.", "",
        "How the cache is made cold: LMDB reads through a shared mmap, and the kernel never evicts a page "
        "that a process maps, so `drop_caches` and `posix_fadvise` alone leave an open environment warm "
        "(the table below shows it). `bench/coldcache.py` first unmaps the data pages from the process "
        "(`madvise(MADV_DONTNEED)`), then drops them (`posix_fadvise(DONTNEED)`), before every query; the "
        "B-tree's branch pages and the main tree (read by every transaction) stay cached, as they would in a "
        "server whose data outgrow RAM. *fault* only "
        "unmaps them (still cached): it isolates the page-fault cost of the first touch of a mapped page, "
        "which is high in this VM. Cold figures use the first "
        f"{args.cold_nq} queries, warm ones all {len(ds.xq):,}.", "",
        report.table(["vectors", "oversampling", "candidates", "recall@10", "q/s warm", "q/s fault", "q/s cold",
                      "disk ceiling q/s", "cold p50 / p99 ms", "us/candidate fault", "us/candidate cold"], rows), "",
        f"*candidates*: keys read per query (measured with a margin). *disk ceiling*: the rate at which the "
        f"disk serves random reads asked for {AHEAD_BATCH} at a time (below) over the candidates, what a query "
        "would get if each candidate cost one scattered 4 KiB read and nothing else. With many candidates "
        "the cold column can pass it: candidates share pages, and the reads come in nearby runs.", "",
        f"Random {PAGE // 1024} KiB reads of data.mdb (closed, its pages dropped first), 640 each way. Python "
        f"threads reading a page each ({len(DISK_THREADS)} thread counts; the engine's reader threads, used "
        f"only when leaf pages cannot be found, are {READ_WORKERS}), and one thread asking for "
        f"{AHEAD_BATCH} pages at once (posix_fadvise WILLNEED) before reading them, as a cold rerank does. "
        "Where the one thread beats the threads, the threads' rate is what Python threads reach, not what "
        "the disk can serve: their GIL handoffs and wakeups cost more than the reads.", "",
        report.table(["how", "reads/s"], [[f"{t} Python thread{'s' if t > 1 else ''}", r] for t, r in disk[0]]
                     + [[f"{AHEAD_BATCH} pages asked for at once, one thread", disk[1]]]), "",
        f"`drop_caches` is {'allowed' if allowed else 'NOT allowed'} here (root, writable /proc/sys/vm). "
        "Its effect on LMDB (resident = fraction of data.mdb in the page cache, by mincore; q/s of the next "
        "100 single queries):", "",
        report.table(["state", "resident", "q/s next 100 queries"], dc_rows), "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset")
    src.add_argument("--synthetic", type=int, metavar="N")
    ap.add_argument("--nq", type=int)
    ap.add_argument("--cold-nq", type=int, default=200)
    ap.add_argument("--oversampling", default="4,8,16,32")
    ap.add_argument("--workdir", default=os.path.join(HERE, "out", "work"))
    ap.add_argument("--cache-dir", default=os.path.join(HERE, "out", "data"))
    ap.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--note", default="Measured while the machine was shared with other engineers: timings are indicative only.")
    args = ap.parse_args(argv)
    args.command = "python -m bench.cold " + " ".join(shlex.quote(a) for a in argv)
    os.makedirs(args.workdir, exist_ok=True)
    body = run(args)
    if args.results:
        report.replace_section(args.results, "Cold reads", body)
    else:
        print(body)


if __name__ == "__main__":
    main()
