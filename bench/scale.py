"""How vecstore's costs grow with N: ingest, open-to-ready, RAM and query time.

    python -m bench.scale                                  # 100k and 300k synthetic
    python -m bench.scale --sizes 100000,300000,1000000    # adds 1M (~25 min, ~6 GB disk)
    python -m bench.scale --dataset ../shared/datasets/pypi-minilm --sizes 100000

For each size and each configuration (the default quantization, and the same
with IVF when the engine has it) three fresh processes run, so each RSS
figure belongs to one phase only:
1. ingest: bulk upsert in batches of 10,000 with durable commits; vectors/s
   and peak RSS (the float16 input is read, not mapped, and converted per
   batch, so the peak is the engine's, plus one batch);
2. cold open: the page cache is dropped (if this process may), then
   open -> collection ready -> first search returns;
3. warm probe: open again (warm page cache), then single queries on one
   thread (warm, then with the data pages evicted before each query), a
   batch, recall@10 and RSS.
Writes the `## Scale` and `## Ingest` sections of bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time


import numpy as np

from . import report

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BATCH = 10_000
COLLECTION = "bench"


# -- phases, each run in its own process ------------------------------------------------
def phase_ingest(data: str, db_path: str, create: dict) -> dict:
    import vecstore

    from .datasets import BASE
    from .measure import peak_rss_bytes, reset_peak_rss, rss_bytes

    path = os.path.join(data, BASE)
    n, dim = np.load(path, mmap_mode="r").shape
    shutil.rmtree(db_path, ignore_errors=True)
    rss0 = rss_bytes()
    reset_peak_rss()
    t0 = time.perf_counter()
    with vecstore.open(db_path) as db:  # sync=True: every batch is durable on return
        col = db.create_collection(COLLECTION, dim=dim, metric="cosine", **create)
        for lo, batch in npy_batches(path, BATCH):
            col.upsert(np.arange(lo, lo + len(batch)), batch.astype(np.float32))
        seconds = time.perf_counter() - t0
        info = col.info()
    return {"n": n, "seconds": seconds, "vectors_per_s": n / seconds, "rss_before": rss0,
            "peak_rss": peak_rss_bytes(), "disk_bytes": info.disk_bytes, "file_bytes": _file_bytes(db_path),
            "ram_bytes": info.ram_bytes, "trained": info.trained}


def npy_batches(path: str, batch: int):
    """(first row, rows) of a 2-d .npy file, read with plain reads: a memory map
    would put every input page in this process's RSS, which must be the engine's."""
    with open(path, "rb") as f:
        fmt = np.lib.format
        version = fmt.read_magic(f)
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        if fortran or len(shape) != 2:
            raise ValueError(f"{path}: expected a C-order 2-d array, got shape {shape}")
        n, dim = shape
        for lo in range(0, n, batch):
            rows = min(batch, n - lo)
            yield lo, np.fromfile(f, dtype=dtype, count=rows * dim).reshape(rows, dim)


def phase_open(db_path: str, data: str) -> dict:
    """Time from open to the first answered search (imports timed apart)."""
    t0 = time.perf_counter()
    import vecstore

    from .datasets import QUERIES
    from .measure import rss_bytes

    t_import = time.perf_counter() - t0
    q = np.load(os.path.join(data, QUERIES))[:1].astype(np.float32)
    t0 = time.perf_counter()
    db = vecstore.open(db_path)
    col = db.get_collection(COLLECTION)
    t_open = time.perf_counter() - t0
    col.search(q, k=10)
    t_ready = time.perf_counter() - t0
    out = {"import_s": t_import, "open_s": t_open, "ready_s": t_ready, "rss_ready": rss_bytes()}
    db.close()
    return out


def phase_probe(db_path: str, data: str, nq: int, cold_nq: int, search: dict) -> dict:
    import vecstore

    from .coldcache import LmdbEvictor
    from .datasets import GT, QUERIES
    from .measure import cores, latency_stats, recall_at_k, rss_bytes, split_across_threads, thread_limit, time_single

    xq = np.load(os.path.join(data, QUERIES))[:nq].astype(np.float32)
    gt = np.load(os.path.join(data, GT))[:nq]
    db = vecstore.open(db_path)
    col = db.get_collection(COLLECTION)
    rss_open = rss_bytes()

    def one(q):
        return col.search(q, k=10, **search).ids

    out = {"rss_open": rss_open}
    with thread_limit(1):
        one(xq)  # untimed: caches and maps the pages these queries read, as in a warm server
        ids, lat = time_single(one, xq)
        out.update({"recall": recall_at_k(ids, gt, 10), **latency_stats(lat)})
        out["rss_after_queries"] = rss_bytes()  # before the cold run, which unmaps pages
        evictor = LmdbEvictor(db_path)
        _, lat_c = time_single(one, xq[:cold_nq], before_each=evictor)
        out.update({f"cold_{k}": v for k, v in latency_stats(lat_c).items()})
    n = cores()
    with thread_limit(n):
        t0 = time.perf_counter()
        split_across_threads(one, xq, n)
        out["qps_batch"] = len(xq) / (time.perf_counter() - t0)
    info = col.info()
    out.update({"ram_bytes": info.ram_bytes, "count": info.count})
    db.close()
    return out


def _file_bytes(db_path: str) -> int:
    from .measure import dir_bytes

    return dir_bytes(db_path)


# -- the orchestrator ---------------------------------------------------------------------
def _child(phase: str, **kwargs) -> dict:
    """Run one phase in a fresh interpreter; it prints one JSON line."""
    cmd = [sys.executable, "-m", "bench.scale", "_phase", phase, json.dumps(kwargs)]
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"phase {phase} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def configs(n: int, only_default: bool) -> list[tuple[str, dict, dict]]:
    """(label, create kwargs, search kwargs): the default kind, then with IVF."""
    import inspect

    import vecstore.config as vc
    from vecstore.engine import Database

    from .systems import ivf_lists

    out = [("binary", {"quantization": "binary"}, {})]
    accepts = inspect.signature(Database.create_collection).parameters
    if not only_default and hasattr(vc, "IVFConfig") and "ivf" in accepts:
        nlist = ivf_lists(n)
        ivf = {"nlist": nlist, "nprobe": 32}
        out.append((f"binary+IVF{nlist}", {"quantization": "binary", "ivf": ivf}, {}))
        if "vectors_in_ram" in accepts:  # what the RAM copy costs in RSS and at open
            out.append((f"binary+IVF{nlist} f16 vectors-in-RAM",
                        {"quantization": "binary", "ivf": ivf, "vector_dtype": "float16", "vectors_in_ram": True}, {}))
    return out


def run(args) -> list[dict]:
    from .coldcache import drop_all_caches
    from .datasets import make_synthetic_folder

    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    rows = []
    sizes = [int(s) for s in args.sizes.split(",")]
    for n in sizes:
        if args.dataset:
            data, name = args.dataset, os.path.basename(os.path.normpath(args.dataset))
            if n != len(np.load(os.path.join(data, "base.f16.npy"), mmap_mode="r")):
                log(f"{name}: has a different size than {n}; skipped")
                continue
        else:
            name = f"synthetic-{n}x{args.dim}-s{args.seed}"
            data = os.path.join(args.cache_dir, name)
            t0 = time.perf_counter()
            make_synthetic_folder(data, n=n, dim=args.dim, nq=1000, seed=args.seed)
            log(f"{name}: data ready ({time.perf_counter() - t0:.0f} s)")
        for label, create, search in configs(n, args.no_ivf):
            db_path = os.path.join(args.workdir, f"{name}-{report.slug(label)}")
            log(f"{name} {label}: ingest ...")
            ingest = _child("ingest", data=data, db_path=db_path, create=create)
            log(f"  {ingest['vectors_per_s']:,.0f} vectors/s, peak RSS {ingest['peak_rss'] / 2**20:,.0f} MiB")
            dropped = drop_all_caches()
            cold = _child("open", db_path=db_path, data=data)
            warm = _child("open", db_path=db_path, data=data)
            log(f"  open-to-ready: {cold['ready_s']:.2f} s after {'dropping caches' if dropped else 'no cache drop (not allowed)'}, "
                f"{warm['ready_s']:.2f} s warm")
            probe = _child("probe", db_path=db_path, data=data, nq=args.nq, cold_nq=args.cold_nq, search=search)
            log(f"  recall {probe['recall']:.3f}, {probe['qps_single']:,.0f} q/s warm, {probe['cold_qps_single']:,.0f} q/s cold")
            rows.append({"dataset": name, "n": n, "config": label, "ingest": ingest, "cold_open": cold,
                         "cold_open_dropped": dropped, "warm_open": warm, "probe": probe})
            if not args.keep:
                shutil.rmtree(db_path, ignore_errors=True)
    return rows


def scale_section(rows: list[dict], command: str, note: str | None) -> str:
    mib = 2**20
    header = ["dataset", "N", "config", "RAM B/vec", "disk B/vec", "open-to-ready cold s", "warm s", "of which open s",
              "RSS ready MiB", "RSS after queries MiB", "recall@10", "q/s single warm", "p50 / p99 ms",
              "q/s single cold", "cold p50 / p99 ms", "q/s batch"]
    body = []
    for r in rows:
        i, p = r["ingest"], r["probe"]
        body.append([r["dataset"], r["n"], r["config"], p["ram_bytes"] / r["n"], i["disk_bytes"] / r["n"],
                     r["cold_open"]["ready_s"] if r["cold_open_dropped"] else None, r["warm_open"]["ready_s"],
                     r["warm_open"]["open_s"],
                     r["warm_open"]["rss_ready"] / mib, p["rss_after_queries"] / mib, p["recall"], p["qps_single"],
                     f"{p['p50_ms']:.2f} / {p['p99_ms']:.2f}", p["cold_qps_single"],
                     f"{p['cold_p50_ms']:.2f} / {p['cold_p99_ms']:.2f}", p["qps_batch"]])
    growth = []
    for config in dict.fromkeys(r["config"] for r in rows):
        mine = sorted((r for r in rows if r["config"] == config), key=lambda r: r["n"])
        if len(mine) < 2:
            continue
        a, b = mine[0], mine[-1]
        growth.append([config, f"{a['n']:,} -> {b['n']:,}", f"{b['n'] / a['n']:.1f}x",
                       f"{(1 / b['probe']['qps_single']) / (1 / a['probe']['qps_single']):.2f}x",
                       f"{(1 / b['probe']['cold_qps_single']) / (1 / a['probe']['cold_qps_single']):.2f}x",
                       f"{b['warm_open']['ready_s'] / a['warm_open']['ready_s']:.2f}x",
                       f"{b['probe']['rss_after_queries'] / a['probe']['rss_after_queries']:.2f}x",
                       f"{(b['ingest']['seconds'] / b['n']) / (a['ingest']['seconds'] / a['n']):.2f}x"])
    lines = ([f"**{note}**", ""] if note else []) + [
        f"`{command}`", "",
        f"Machine: {report.machine()}. Each phase runs in a fresh process. Queries: 1 thread, k = 10, "
        "the collection's default search settings; *cold* evicts the data pages before every query "
        "(bench/coldcache.py). *open-to-ready*: `vecstore.open` -> `get_collection` -> first search "
        "answered, imports excluded (*of which open*: up to `get_collection`; the rest is the first "
        "search, which also loads the cached Numba kernels); *cold* after `drop_caches`. RSS includes the LMDB pages the process "
        "has touched through its mmap; *after queries* is taken after the warm queries, before the cold ones "
        "(which unmap pages).", "",
        report.table(header, body), "",
    ]
    if growth:
        lines += ["How cost grows with N (largest / smallest):", "",
                  report.table(["config", "N", "N ratio", "time/query warm", "time/query cold", "open-to-ready warm",
                                "RSS after queries", "ingest time/vector"], growth), ""]
    return "\n".join(lines)


def ingest_section(rows: list[dict], command: str, note: str | None) -> str:
    mib = 2**20
    body = [[r["dataset"], r["n"], r["config"], r["ingest"]["vectors_per_s"], r["ingest"]["seconds"],
             r["ingest"]["rss_before"] / mib, r["ingest"]["peak_rss"] / mib,
             (r["ingest"]["peak_rss"] - r["ingest"]["rss_before"]) / mib, r["ingest"]["file_bytes"] / r["n"]]
            for r in rows]
    target = [r for r in rows if r["n"] >= 1_000_000]
    verdict = ("Target (issue 7): >= 50,000 vectors/s at 1M x 384 with durability on: "
               + ("; ".join(f"{r['config']}: {r['ingest']['vectors_per_s']:,.0f}/s, "
                            f"{'met' if r['ingest']['vectors_per_s'] >= 50_000 else 'NOT met'}" for r in target)
                  if target else "not measured in this run (add 1000000 to --sizes)"))
    if any("IVF" in r["config"] for r in rows):
        verdict += (". The IVF rows include learning the centroids (faiss k-means, once the collection "
                    "crosses its training threshold) and assigning every batch to its nearest list, "
                    "a (batch, dim) x (dim, nlist) product per batch")
    return "\n".join(([f"**{note}**", ""] if note else []) + [
        f"`{command}`", "",
        "Bulk upsert of the dataset in batches of 10,000 ids with `sync=True` (each batch one durable LMDB "
        "commit), into an empty collection; codes are trained on the way. The input float16 file is read "
        "(not memory-mapped) and converted to float32 one batch at a time, so RSS is the engine's plus one batch. Peak RSS is the "
        "process's VmHWM, reset just before the first upsert.", "",
        report.table(["dataset", "N", "config", "vectors/s", "seconds", "RSS before MiB", "peak RSS MiB",
                      "peak - before MiB", "file B/vec"], body), "",
        verdict, ""])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_phase"]:
        phase, kwargs = argv[1], json.loads(argv[2])
        fn = {"ingest": phase_ingest, "open": phase_open, "probe": phase_probe}[phase]
        print(json.dumps(fn(**kwargs)))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,300000", help="comma-separated N (1000000 is optional: slow)")
    ap.add_argument("--dataset", help="a dataset folder instead of synthetic data (its N must be in --sizes)")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--nq", type=int, default=1000, help="warm single queries per probe")
    ap.add_argument("--cold-nq", type=int, default=200, help="cold single queries per probe")
    ap.add_argument("--no-ivf", action="store_true", help="only the default configuration")
    ap.add_argument("--keep", action="store_true", help="keep the built databases")
    ap.add_argument("--workdir", default=os.path.join(HERE, "out", "scale"))
    ap.add_argument("--cache-dir", default=os.path.join(HERE, "out", "data"))
    ap.add_argument("--out-dir", default=os.path.join(HERE, "out"))
    ap.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"), help="markdown to update ('' for none)")
    ap.add_argument("--note", default="Measured while the machine was shared with other engineers: timings are indicative only.")
    args = ap.parse_args(argv)
    command = "python -m bench.scale " + " ".join(shlex.quote(a) for a in argv)
    os.makedirs(args.workdir, exist_ok=True)
    rows = run(args)
    os.makedirs(args.out_dir, exist_ok=True)
    tag = "real" if args.dataset else "synthetic"
    with open(os.path.join(args.out_dir, f"scale_{tag}.json"), "w") as f:
        json.dump({"command": command, "rows": rows}, f, indent=1)
    if args.results and rows:
        suffix = f": {rows[0]['dataset']}" if args.dataset else ""
        report.replace_section(args.results, f"Scale{suffix}", scale_section(rows, command, args.note))
        report.replace_section(args.results, f"Ingest{suffix}", ingest_section(rows, command, args.note))


if __name__ == "__main__":
    main()
