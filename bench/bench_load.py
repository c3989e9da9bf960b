"""Bounded load test: concurrent clients with a mixed workload against `vecstore serve`.

    python -m bench.bench_load [--seconds 30] [--clients 16] [--n 100000] [--dim 384]
                               [--dataset DIR] [--update-results bench/RESULTS.md]

1. Builds a collection of `--n` points (the default quantization) in a fresh
   directory through the embedded API: seeded sentence-like vectors, or the
   base of a dataset folder (`bench/datasets.py`).
2. Starts `vecstore serve --no-warm-up` on it in a subprocess, on loopback.
3. `--clients` threads, each with its own `vecstore.connect` client (its own
   channel), call without pause: by default 70% single-query searches (k=10),
   20% upserts of `--batch` new points, 10% deletes of `--batch` points the
   same client upserted earlier (so the collection keeps its size). The first
   `--warmup` seconds are not counted; then `--seconds` are.
4. Stops the server with SIGTERM and checks exit code 0.

Reports throughput (all calls, and per kind) and client-side p50/p99
latency, and counts failed calls by status code. Every failure is
unexpected here (a healthy server answers each of these calls), so any makes
the exit code 1. The clients are threads of one Python process, beside the
server on the same machine: on few cores they compete with it for CPU.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

import vecstore
from bench import datasets, report

HEADING = "Load: concurrent clients, mixed workload"
KINDS = ("search", "upsert", "delete")
K = 10
POOL = 20_000  # vectors drawn for upserts, besides the initial points


@dataclass
class Tally:
    """One client's record of the measured window."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    errors: Counter = field(default_factory=Counter)  # (kind, status) -> calls
    examples: dict[str, str] = field(default_factory=dict)  # status -> one message


@dataclass(frozen=True)
class Workload:
    xq: np.ndarray  # queries
    pool: np.ndarray  # vectors for upserts
    batch: int
    mix: tuple[float, float, float]  # shares of search, upsert, delete
    first_id: int  # ids of upserted points start here, a range per client


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(initial points, queries, upsert pool, description)."""
    if args.dataset:
        ds = datasets.load_folder(args.dataset)
        xb = ds.xb[: args.n]
        pool = ds.xb[args.n : args.n + POOL] if len(ds.xb) > args.n else ds.xb[:POOL]
        return xb, ds.xq, pool, f"{ds.name} ({len(xb):,} x {xb.shape[1]})"
    x = datasets.sentence_like(args.n + POOL + 1000, args.dim, args.seed)
    xb, pool, xq = x[: args.n], x[args.n : args.n + POOL], x[args.n + POOL :]
    return xb, xq, pool, f"synthetic sentence-like ({args.n:,} x {args.dim}, seed {args.seed})"


class Server:
    """`vecstore serve` on `data_dir`, in a subprocess on a free loopback port."""

    def __init__(self, data_dir: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vecstore", "serve", "--data-dir", data_dir, "--port", "0", "--no-warm-up"],
            stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT,
        )
        self.address = ""
        for line in self.proc.stdout:
            found = re.search(r"listening on (\S+)", line)
            if found:
                self.address = found.group(1)
            if "health SERVING" in line:
                threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # keep the pipe drained
                return
        raise RuntimeError(f"vecstore serve exited with {self.proc.wait()} before serving")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)


def client_loop(index: int, address: str, work: Workload, start: float, count_from: float, end: float,
                tally: Tally) -> None:
    """One client calling without pause from `start` until `end`. Latencies
    count from `count_from` (after the warm-up); failures count throughout."""
    try:
        client = vecstore.connect(address, timeout=60)
        col = client.get_collection("load")
    except Exception as exc:  # noqa: BLE001 - a client that cannot start is a failure to report
        tally.errors[("connect", getattr(exc, "status", type(exc).__name__))] += 1
        tally.examples.setdefault("connect", str(exc)[:300])
        return
    rng = np.random.default_rng([index, 1])
    mine: deque[np.ndarray] = deque()  # id batches this client upserted, oldest first
    next_id = work.first_id + index * 100_000_000
    with client:
        while time.monotonic() < start:
            time.sleep(0.001)
        while True:
            t0 = time.monotonic()
            if t0 >= end:
                return
            kind = KINDS[rng.choice(3, p=work.mix)]
            if kind == "delete" and not mine:
                kind = "upsert"  # nothing of ours to delete yet
            try:
                if kind == "search":
                    col.search(work.xq[rng.integers(len(work.xq))], k=K)
                elif kind == "upsert":
                    ids = np.arange(next_id, next_id + work.batch, dtype=np.int64)
                    col.upsert(ids, work.pool[rng.integers(0, len(work.pool), work.batch)])
                    next_id += work.batch
                    mine.append(ids)
                else:
                    col.delete(mine.popleft())
                status = None
            except vecstore.VecstoreError as exc:
                status, message = exc.status, f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # noqa: BLE001 - a client bug is an unexpected error too
                status, message = f"EXCEPTION {type(exc).__name__}", str(exc)
            seconds = time.monotonic() - t0
            if status is not None:
                tally.errors[(kind, status)] += 1
                tally.examples.setdefault(status, message[:300])
            elif t0 >= count_from:
                tally.latencies[kind].append(seconds)


def run(args: argparse.Namespace) -> dict:
    xb, xq, pool, what = load_data(args)
    work_dir = tempfile.mkdtemp(prefix="vecstore-bench-load-", dir=args.work_dir)
    try:
        data_dir = os.path.join(work_dir, "db")
        with vecstore.open(data_dir) as db:
            col = db.create_collection("load", dim=xb.shape[1])
            for lo in range(0, len(xb), 10_000):
                col.upsert(np.arange(lo, min(lo + 10_000, len(xb))), xb[lo : lo + 10_000])
            info = col.info()
            quantization = f"`{info.config.quantization.kind}` (defaults{'' if info.trained else ', untrained'})"
        server = Server(data_dir)
        try:
            work = Workload(xq=xq, pool=pool, batch=args.batch, mix=tuple(args.mix), first_id=10 ** 9)
            tallies = [Tally() for _ in range(args.clients)]
            start = time.monotonic() + 1.0  # clients start together (one connecting later starts late)
            count_from = start + args.warmup
            end = count_from + args.seconds
            threads = [threading.Thread(target=client_loop, args=(i, server.address, work, start, count_from, end, t))
                       for i, t in enumerate(tallies)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.monotonic() - count_from  # calls in flight at `end` finish after it
            with vecstore.connect(server.address) as client:
                final_count = client.get_collection("load").count()
        finally:
            exit_code = server.stop()
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return summarize(tallies, wall, what, quantization, exit_code, final_count)


def summarize(tallies: list[Tally], wall: float, what: str, quantization: str, exit_code: int,
              final_count: int) -> dict:
    def figures(latencies: list[float], errors: int) -> dict:
        ms = np.array(latencies) * 1e3
        return {"ok": int(ms.size), "errors": errors, "ops_s": ms.size / wall,
                "p50_ms": float(np.percentile(ms, 50)) if ms.size else None,
                "p99_ms": float(np.percentile(ms, 99)) if ms.size else None}

    by_status: Counter = Counter()
    examples: dict[str, str] = {}
    for t in tallies:
        for (_, status), n in t.errors.items():
            by_status[status] += n
        for status, message in t.examples.items():
            examples.setdefault(status, message)
    per_kind = {kind: figures([s for t in tallies for s in t.latencies[kind]],
                              sum(n for t in tallies for (k, _), n in t.errors.items() if k == kind))
                for kind in KINDS}
    total = figures([s for t in tallies for kind in KINDS for s in t.latencies[kind]], sum(by_status.values()))
    return {
        "what": what, "quantization": quantization, "seconds": wall, "per_kind": per_kind, "total": total,
        "errors_by_status": dict(by_status), "error_examples": examples,
        "server_exit_code": exit_code, "final_count": final_count,
    }


def section(figures: dict, args: argparse.Namespace, command: str) -> str:
    """The markdown body of the RESULTS.md section."""
    mix = ", ".join(f"{share:.0%} {kind}" for kind, share in zip(KINDS, args.mix))
    named = [*figures["per_kind"].items(), ("**all**", figures["total"])]
    rows = [[name, f["ok"], f["ops_s"], f["p50_ms"], f["p99_ms"], f["errors"]] for name, f in named]
    errors = ", ".join(f"{status}: {n:,}" for status, n in sorted(figures["errors_by_status"].items())) or "none"
    shared = " **Measured while the machine was shared: timings are noisy.**" if args.shared else ""
    lines = [
        f"`{command}` ({time.strftime('%Y-%m-%d')}; {report.machine()}).",
        "",
        f"Data: {figures['what']}; quantization {figures['quantization']}. "
        f"{args.clients} client threads in one process, each with its own channel, against `vecstore serve` "
        f"on loopback (its default 16 worker threads), calling without pause: {mix}; searches are one query "
        f"with k={K}, upserts and deletes {args.batch} points each (a client deletes points it upserted). "
        f"Measured for {figures['seconds']:.1f} s after {args.warmup:g} s of warm-up; latency is the "
        f"client's, per call.{shared}",
        "",
        report.table(["call", "calls OK", "calls/s", "p50 ms", "p99 ms", "errors (warm-up too)"], rows),
        "",
        f"Errors by status: {errors}. Server exit code after SIGTERM: {figures['server_exit_code']}. "
        f"Points at the end: {figures['final_count']:,}.",
    ]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description="bounded load test of vecstore serve (loopback)")
    ap.add_argument("--seconds", type=float, default=30.0, help="measured duration (default 30)")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring (default 3)")
    ap.add_argument("--clients", type=int, default=16, help="concurrent client threads (default 16)")
    ap.add_argument("--n", type=int, default=100_000, help="initial points (default 100,000)")
    ap.add_argument("--dim", type=int, default=384, help="dimensions of synthetic data (default 384)")
    ap.add_argument("--dataset", help="a dataset folder (bench/datasets.py) instead of synthetic data")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    ap.add_argument("--batch", type=int, default=16, help="points per upsert and per delete (default 16)")
    ap.add_argument("--mix", type=float, nargs=3, default=(0.7, 0.2, 0.1), metavar=("SEARCH", "UPSERT", "DELETE"),
                    help="shares of the calls (default 0.7 0.2 0.1)")
    ap.add_argument("--work-dir", help="where the temporary database goes (default: the system temp dir)")
    ap.add_argument("--shared", action="store_true", help="mark the figures as measured on a shared machine")
    ap.add_argument("--update-results", help="write the section into this RESULTS.md")
    return ap


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = parser().parse_args(argv)
    total = sum(args.mix)
    if total <= 0 or min(args.mix) < 0:
        raise SystemExit("--mix: three shares >= 0, not all zero")
    args.mix = [share / total for share in args.mix]
    return args


def failed(figures: dict) -> bool:
    """Any failed call, or an unclean server exit: the exit code is then 1."""
    return bool(figures["total"]["errors"]) or figures["server_exit_code"] != 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    figures = run(args)
    command = " ".join(["python -m bench.bench_load", *(argv if argv is not None else sys.argv[1:])])
    body = section(figures, args, command)
    print(f"## {HEADING}\n\n{body}")
    for status, message in figures["error_examples"].items():
        print(f"example of {status}: {message}", file=sys.stderr)
    if args.update_results:
        report.replace_section(args.update_results, HEADING, body)
    return 1 if failed(figures) else 0


if __name__ == "__main__":
    sys.exit(main())
