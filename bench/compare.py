"""vecstore against its peers, side by side, in one process.

    python -m bench.compare --dataset ../shared/datasets/pypi-minilm
    python -m bench.compare --synthetic 100000 [--dim 384]

For every system (each vecstore configuration, then faiss, usearch, hnswlib,
LanceDB; a missing library is reported, not fatal) it builds the index once,
then for each value of the system's knob measures: recall@10, queries/s with
one query per call on one thread, p50/p99 latency, queries/s for the whole
query set in one call on all cores, RAM and disk bytes per vector, build
time. Systems that read from disk (vecstore, LanceDB) are measured again
with a cold page cache (bench/coldcache.py). Writes a JSON of every point,
the `## Peer comparison: <dataset>` section of bench/RESULTS.md and a PNG.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import re
import shlex
import sys
import time
import traceback


import numpy as np

from . import report
from .coldcache import PinnedFiles
from .datasets import Dataset, load_folder, synthetic
from .measure import cores, latency_stats, recall_at_k, thread_limit, time_batch, time_single
from . import peers_scale
from .peers import all_peers
from .plot import plot
from .systems import System, label
from .vecstore_runner import vecstore_systems

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED_NOTE = "Measured while the machine was shared with other engineers: timings are indicative only."


def _searcher(system: System, k: int, params):
    """search(q, threads) of one sweep point."""
    return lambda q, threads: system.search(q, k, params, threads)


def measure_system(system: System, ds: Dataset, args, log) -> list[dict]:
    """Build one system and measure every point of its sweep."""
    n_cores = args.threads or cores()
    t0 = time.perf_counter()
    with thread_limit(n_cores):
        system.build(ds.xb, args.workdir)
    build_s = time.perf_counter() - t0
    ram_bpv = system.ram_bytes() / ds.n
    disk_bpv = system.disk_bytes() / ds.n
    rss_delta = system.ram_rss_delta()
    rss_note = "" if rss_delta is None else f" (RSS delta {rss_delta / ds.n:,.1f} B/vec)"
    log(f"  built in {build_s:.1f} s; RAM {ram_bpv:,.1f} B/vec{rss_note}, disk {disk_bpv:,.1f} B/vec")
    sweep = system.sweep()
    if args.max_params and len(sweep) > args.max_params:
        keep = np.linspace(0, len(sweep) - 1, args.max_params).round().astype(int)
        sweep = [sweep[i] for i in sorted(set(keep))]
    points, warm_bases = [], []
    xq, k = ds.xq, args.k
    pin_root = getattr(system, "path", None) if (args.pin and system.reads_disk) else None
    with PinnedFiles(pin_root) if pin_root else contextlib.nullcontext() as pin:
        if pin_root and not pin.pinned:
            log("  could not pin its files in the page cache (mlock): warm figures unpinned")
        for params in sweep:
            search = _searcher(system, k, params)
            base = {"system": system.name, "family": system.family, "params": label(params), "ram_bpv": ram_bpv,
                    "disk_bpv": disk_bpv, "build_s": build_s}
            if rss_delta is not None:
                base["rss_delta_bpv"] = rss_delta / ds.n
            with thread_limit(1):
                if system.reads_disk:
                    # an untimed pass caches and maps every page these queries read: after a
                    # build (pages cached, never mapped) or a cold run (evicted) it would not be warm
                    search(xq, 1)
                search(xq[:5], 1)  # warm-up: kernel caches, lazy loads
                # the pass of median total time out of --repeats: this machine's
                # neighbours slow whole seconds at a time, and every system gets the same rule
                passes = sorted((time_single(lambda q: search(q, 1), xq) for _ in range(args.repeats)),
                                key=lambda p: float(p[1].sum()))
                ids, lat = passes[len(passes) // 2]
                base["candidates"] = system.candidates(k, params)  # after the passes: some systems measure it
            with thread_limit(n_cores):
                search(xq[: 2 * n_cores], n_cores)
                _, batch_s = time_batch(lambda q: search(q, n_cores), xq)
            warm = {**base, "cache": "warm", "pinned": bool(pin_root and pin.pinned),
                    "recall": recall_at_k(ids, ds.gt, k), **latency_stats(lat), "qps_batch": len(xq) / batch_s}
            points.append(warm)
            warm_bases.append((params, base))
            log(f"  {label(params):<28} recall {warm['recall']:.3f}  single {warm['qps_single']:8,.0f} q/s "
                f"(p50 {warm['p50_ms']:.2f} ms, p99 {warm['p99_ms']:.2f} ms)  batch {warm['qps_batch']:9,.0f} q/s")
    # cold runs after every warm one: a pinned page cannot be evicted
    for params, base in warm_bases if (args.cold and system.reads_disk) else []:
        search = _searcher(system, k, params)
        cq = xq[: args.cold_nq]
        with thread_limit(1):
            search(xq[:5], 1)
            ids_c, lat_c = time_single(lambda q: search(q, 1), cq, before_each=system.evict)
        with thread_limit(n_cores):
            system.evict()
            _, batch_c = time_batch(lambda q: search(q, n_cores), cq)
        cold = {**base, "cache": "cold", "recall": recall_at_k(ids_c, ds.gt[: len(cq)], k),
                **latency_stats(lat_c), "qps_batch": len(cq) / batch_c}
        points.append(cold)
        log(f"  {label(params) + ', cold page cache':<28} recall {cold['recall']:.3f}  single "
            f"{cold['qps_single']:8,.0f} q/s (p50 {cold['p50_ms']:.2f} ms, p99 {cold['p99_ms']:.2f} ms)  "
            f"batch {cold['qps_batch']:9,.0f} q/s")
    return points


def run(args) -> dict:
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    if args.dataset:
        ds = load_folder(args.dataset, nq=args.nq, n=args.n)
    else:
        ds = synthetic(args.synthetic, dim=args.dim, nq=args.nq or 1000, seed=args.seed, cache_dir=args.cache_dir)
    log(f"dataset {ds.name}: {ds.n:,} x {ds.dim}, {len(ds.xq):,} queries")
    os.makedirs(args.workdir, exist_ok=True)
    if args.cold:
        from .coldcache import LmdbEvictor  # noqa: F401 - fail early off Linux
    systems = vecstore_systems(ds.n, ds.dim) + all_peers(ds.n, ds.dim)
    if args.systems:
        systems = [s for s in systems if re.search(args.systems, s.name)]
    if args.skip:
        systems = [s for s in systems if not re.search(args.skip, s.name)]
    points, missing, failed = [], {}, {}
    for system in systems:
        why = system.missing()
        if why:
            log(f"{system.name}: not measured: {why}")
            missing[system.name] = why
            continue
        log(f"{system.name}:")
        try:
            points += measure_system(system, ds, args, log)
        except Exception as exc:  # one broken peer must not cost the whole run
            log(traceback.format_exc())
            failed[system.name] = f"{type(exc).__name__}: {exc}"
        finally:
            system.close()
            gc.collect()
    if args.merge:
        merge_previous(args, ds.name, points, missing, failed, {s.name for s in systems})
    result = {"dataset": ds.name, "n": ds.n, "dim": ds.dim, "nq": len(ds.xq), "k": args.k,
              "threads": args.threads or cores(), "cold": bool(args.cold), "cold_nq": args.cold_nq, "repeats": args.repeats,
              "pin": bool(args.pin),
              "command": args.command, "points": points, "missing": missing, "failed": failed}
    write_outputs(result, args)
    return result


def json_path_for(args, dataset: str) -> str:
    return args.json or os.path.join(args.out_dir, f"compare_{report.slug(dataset)}.json")


def merge_previous(args, dataset: str, points: list, missing: dict, failed: dict, measured: set[str]) -> None:
    """Keep the previous run's figures of the systems this run did not measure
    (a rerun of a few systems then updates the section instead of shrinking it)."""
    path = json_path_for(args, dataset)
    if not os.path.exists(path):
        return
    with open(path) as f:
        old = json.load(f)
    points[:0] = [p for p in old["points"] if p["system"] not in measured]
    points.sort(key=lambda p: p["family"] != "vecstore")  # stable: vecstore first, order kept
    for name, why in old.get("missing", {}).items():
        if name not in measured and name != "plot":
            missing.setdefault(name, why)
    for name, why in old.get("failed", {}).items():
        if name not in measured:
            failed.setdefault(name, why)
    args.command = old.get("command", args.command) + f" ; then {args.command}"


def write_outputs(result: dict, args) -> None:
    name = report.slug(result["dataset"])
    json_path = json_path_for(args, result["dataset"])
    png_path = args.plot or os.path.join(HERE, f"compare_{name}.png")
    for p in (json_path, png_path):
        os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
    title = f"{result['dataset']}: {result['n']:,} x {result['dim']}, recall@10 vs queries/s"
    result["plot"] = None
    if result["points"]:
        try:
            result["plot"] = plot(result["points"], png_path, title)
        except ImportError as exc:  # matplotlib is a bench extra, not a runtime dependency
            result["missing"]["plot"] = f"not drawn: {exc}"
    with open(json_path, "w") as f:
        json.dump(result, f, indent=1)
    if args.results:
        rel_png = os.path.relpath(png_path, os.path.dirname(os.path.abspath(args.results)))
        report.replace_section(args.results, f"Peer comparison: {result['dataset']}",
                               section(result, rel_png, args.note))


def section(result: dict, png: str, note: str | None) -> str:
    pts = result["points"]
    from .peers import all_peers as _peers
    from .vecstore_runner import _RAM_NOTE

    notes = {s.name: s.ram_note for s in _peers(result["n"], result["dim"])}
    lines = []
    if note:
        lines += [f"**{note}**", ""]
    lines += [
        f"`{result['command']}`",
        "",
        f"{result['n']:,} x {result['dim']} base vectors, {result['nq']:,} queries, k = {result['k']}. "
        f"Machine: {report.machine()}. "
        + report.versions(["numpy", "numba", "faiss-cpu", "lmdb", "usearch", "hnswlib", "lancedb",
                           "diskannpy", "scalable-vs", "milvus-lite", "pymilvus"]) + ".",
        "",
        "- *q/s single*: one query per call on 1 thread (faiss OpenMP and BLAS pinned to 1; usearch/hnswlib "
        "`threads=1`; LanceDB runs its own pools and cannot be pinned). p50/p99 are its latencies. "
        "Warm figures are the pass of median total time out of `--repeats` passes over all queries "
        f"({result.get('repeats', 1)} in the last run; the note says which rows had how many).",
        f"- *q/s batch*: all queries in one call on {result['threads']} threads (vecstore and the numpy reranks "
        "split the batch over threads: their calls are single-threaded and release the GIL).",
        "- *RAM B/vec*: bytes that must stay in RAM, divided by n (see below); *disk B/vec*: bytes on disk.",
        "- *build s*: vecstore = bulk upsert in batches of 10,000 with durable commits (codes trained on the way); "
        "peers = train + add.",
        "- *candidates*: vectors reranked exactly per query.",
    ]
    if result.get("pin"):
        lines.append(
            "- *warm* for systems that read files (vecstore, LanceDB): their files locked in the page cache "
            "(mlock, `--pin`, the default since 2026-11-22) during the warm passes, then the cold runs. This "
            "host's DAMON pageout evicts file pages read at sparse random places within seconds of use, so "
            "unpinned warm passes read from disk now and then; faiss's arrays are anonymous memory, which "
            "it cannot page out (no swap). Rows from runs before that date were measured unpinned.")
    if result["cold"]:
        lines.append(
            f"- *cold*: the first {result['cold_nq']} queries, with the data pages evicted from the page cache "
            "and from the process's mapping before every single query and before the batch "
            "(`bench/coldcache.py`; LMDB branch pages and the main tree, which every transaction reads, stay cached). Without this, `drop_caches` alone does "
            "not make an open LMDB cold: mapped pages are never dropped.")
    lines += ["", "### Targets (issue 7) this run can check", "",
              report.table(["criterion", "vecstore", "peer", "ratio", "met"], report.targets(pts)), "",
              "### Fastest single-query point reaching each recall@10 (warm cache)", "",
              report.speed_at_recall_table(pts), "",
              "### Fastest batched point reaching each recall@10 (warm cache)", "",
              report.speed_at_recall_table(pts, key="qps_batch"), ""]
    if any(p["cache"] == "cold" for p in pts):
        lines += ["### Fastest single-query point reaching each recall@10 (cold cache)", "",
                  report.speed_at_recall_table([p for p in pts if p["cache"] == "cold"], cache="cold"), ""]
    lines += ["### Rerank candidates needed per recall@10", "", report.candidates_table(pts), "",
              "### All points", "", report.points_table(pts), ""]
    if result.get("plot"):
        lines += [f"![recall@10 vs queries/s]({png})", ""]
    if result["missing"] or result["failed"]:
        lines += ["### Not measured", ""]
        lines += [f"- {k}: {v}" for k, v in {**result["missing"], **result["failed"]}.items()]
        lines.append("")
    lines += ["### How RAM per vector is computed", "", f"- vecstore: {_RAM_NOTE}"]
    for name in report.systems_of(pts):
        if name in notes:
            lines.append(f"- {name}: {notes[name]}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="dataset folder (base.f16.npy, queries.f16.npy, gt_ip_top100.i32.npy)")
    src.add_argument("--synthetic", type=int, metavar="N", help="N seeded sentence-like vectors")
    src.add_argument("--report-only", metavar="JSON", help="measure nothing: rewrite the section and plot from a saved run")
    ap.add_argument("--n", type=int, help="use only the first N base vectors of --dataset")
    ap.add_argument("--dim", type=int, default=384, help="synthetic dimension")
    ap.add_argument("--nq", type=int, help="queries to use (default: all, synthetic: 1000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--systems", help="regex: only systems whose name matches")
    ap.add_argument("--skip", help="regex: leave out systems whose name matches")
    ap.add_argument("--max-params", type=int, default=0, help="at most this many points per system (0: all)")
    ap.add_argument("--threads", type=int, default=0, help="threads for batches and builds (0: all cores)")
    ap.add_argument("--cold", action=argparse.BooleanOptionalAction, default=True,
                    help="also measure disk-reading systems with a cold page cache")
    ap.add_argument("--cold-nq", type=int, default=200, help="queries in each cold run")
    ap.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True,
                    help="lock disk-reading systems' files in the page cache (mlock) for their warm runs")
    ap.add_argument("--repeats", type=int, default=3,
                    help="timed single-query passes per point; the one of median total time is reported")
    ap.add_argument("--workdir", default=os.path.join(HERE, "out", "work"), help="where indexes are built")
    ap.add_argument("--cache-dir", default=os.path.join(HERE, "out", "data"), help="synthetic dataset cache")
    ap.add_argument("--out-dir", default=os.path.join(HERE, "out"), help="JSON of all points goes here")
    ap.add_argument("--json", help="JSON path (default: OUT_DIR/compare_<dataset>.json)")
    ap.add_argument("--plot", help="PNG path (default: bench/compare_<dataset>.png)")
    ap.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"), help="markdown to update ('' for none)")
    ap.add_argument("--note", default=SHARED_NOTE, help="line printed above the results ('' for none)")
    ap.add_argument("--merge", action="store_true",
                    help="keep the previous JSON's points of systems not measured now (rerun a subset)")
    ap.add_argument("--diskann-pq-bytes", type=int, default=peers_scale.DISKANN_PQ_BYTES,
                    help="DiskANN's PQ bytes per vector in RAM (its RAM budget; default: issue 19's 64)")
    ap.add_argument("--quiet", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    peers_scale.DISKANN_PQ_BYTES = args.diskann_pq_bytes
    args.command = "python -m bench.compare " + " ".join(shlex.quote(a) for a in argv)
    if args.report_only:
        with open(args.report_only) as f:
            result = json.load(f)
        args.json = args.report_only
        write_outputs(result, args)
        return result
    return run(args)


if __name__ == "__main__":
    main()
