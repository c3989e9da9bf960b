"""The `vecstore` command: a thin layer over the library.

Every command turns a vecstore error into one clean line on stderr and exit
code 2 (`check` exits 1 when it finds a problem); the work itself is done by the library. Commands that touch a
database take either `--server HOST:PORT` (a running `vecstore serve`; also
$VECSTORE_SERVER) or `--data-dir DIR` (open the directory directly, which
fails while a server holds it): the same API serves both.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from .errors import VecstoreError

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    COMMANDS[fn.__name__.removeprefix("cmd_").replace("_", "-")] = fn
    return fn


class UsageError(Exception):
    """A command line that cannot work; printed as one line, exit code 2."""


# -- connecting -------------------------------------------------------------------
@contextmanager
def open_target(args: argparse.Namespace, *, timeout: float | None = 60.0) -> Iterator[Any]:
    """A `Database` (--data-dir) or a gRPC `Client` (--server): the same interface."""
    if args.server:
        from . import connect

        with connect(args.server, args.api_key, root_certificates=args.tls_ca, timeout=timeout) as client:
            yield client
    elif args.data_dir:
        from . import open as open_db

        with open_db(args.data_dir) as db:
            yield db
    else:
        raise UsageError("say where the database is: --server HOST:PORT (or $VECSTORE_SERVER) or --data-dir DIR")


def add_target_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--server", default=os.environ.get("VECSTORE_SERVER"),
                       help="HOST:PORT of a running `vecstore serve` (default: $VECSTORE_SERVER)")
    where.add_argument("--data-dir", help="open this database directory directly instead")
    parser.add_argument("--api-key", default=os.environ.get("VECSTORE_API_KEY"),
                        help="API key for --server (default: $VECSTORE_API_KEY)")
    parser.add_argument("--tls-ca", help="PEM file of the CA (or self-signed certificate) to trust; implies TLS")


def parse_filter(text: str | None) -> dict | None:
    """--filter: a JSON object in the filter syntax (README "Filters")."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--filter is not valid JSON: {exc}") from None


def parse_quantization(text: str) -> Any:
    """A kind name ("binary") or a JSON object ('{"kind": "binary", "oversampling": 8}')."""
    text = text.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--quantization is not valid JSON: {exc}") from None
    return text


# -- commands -----------------------------------------------------------------------
@command
def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(
        data_dir=args.data_dir,
        base=args.base,
        queries=args.queries,
        n=args.n,
        dim=args.dim,
        nq=args.nq,
        quantization=args.quantization,
    )
    return 0


@command
def cmd_serve(args: argparse.Namespace) -> int:
    from . import logs
    from .rpc.auth import read_key_file
    from .rpc.server import TlsFiles, serve

    logs.configure(args.log_format, requests=args.log_requests)
    keys = list(args.api_key or []) + [k for f in args.api_key_file or [] for k in read_key_file(f)]
    ro_keys = list(args.read_only_api_key or []) + [k for f in args.read_only_api_key_file or [] for k in read_key_file(f)]
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("TLS needs both --tls-cert and --tls-key")
    tls = TlsFiles.read(args.tls_cert, args.tls_key) if args.tls_cert else None
    if not 1 <= args.max_search_queries <= 10_000 or not 1 <= args.max_search_results <= 1_000_000:
        raise UsageError("--max-search-queries must be in [1, 10000] and --max-search-results in [1, 1000000]")
    code = serve(
        args.data_dir,
        host=args.host,
        port=args.port,
        api_keys=keys,
        read_only_api_keys=ro_keys,
        tls=tls,
        max_message_bytes=args.max_message_mb << 20,
        workers=args.workers,
        grace=args.grace,
        sync=not args.no_sync,
        warm=not args.no_warm_up,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        snapshot_dir=args.snapshot_dir,
        max_search_queries=args.max_search_queries,
        max_search_results=args.max_search_results,
        ray_address=args.ray,
    )
    if code != 0:
        # a handler still running would block interpreter exit (the worker
        # threads are joined at exit), and a SIGTERM must end the daemon
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


@command
def cmd_info(args: argparse.Namespace) -> int:
    with open_target(args) as db:
        for name in [args.name] if args.name else db.list_collections():
            info = db.get_collection(name).info()
            if args.json:  # one object per line; a cluster's extra lists every shard replica
                print(json.dumps({"name": name, "config": info.config.to_dict(), "count": info.count,
                                  "trained": info.trained, "ram_bytes": info.ram_bytes,
                                  "disk_bytes": info.disk_bytes, "extra": info.extra}, default=str))
                continue
            q = info.config.quantization
            per_vec = info.ram_bytes / info.count if info.count else 0.0
            print(
                f"{name}: dim={info.config.dim} metric={info.config.metric} id_type={info.config.id_type} "
                f"quantization={q.to_dict()} "
                f"count={info.count} trained={info.trained} ram={info.ram_bytes}B ({per_vec:.1f} B/vector) "
                f"disk={info.disk_bytes}B payload_indexes={info.extra.get('payload_indexes', {})}"
            )
    return 0


@command
def cmd_list(args: argparse.Namespace) -> int:
    with open_target(args) as db:
        for name in db.list_collections():
            print(name)
    return 0


@command
def cmd_create(args: argparse.Namespace) -> int:
    with open_target(args) as db:
        col = db.create_collection(args.name, dim=args.dim, metric=args.metric,
                                   quantization=parse_quantization(args.quantization), id_type=args.id_type,
                                   shards=args.shards, replicas=args.replicas)
        print(f"created {col.name}: dim={col.dim} metric={col.metric} id_type={col.config.id_type} "
              f"quantization={col.config.quantization.to_dict()}")
    return 0


@command
def cmd_drop(args: argparse.Namespace) -> int:
    with open_target(args) as db:
        db.drop_collection(args.name)
        print(f"dropped {args.name}")
    return 0


@command
def cmd_snapshot(args: argparse.Namespace) -> int:
    with open_target(args) as db:
        print(f"snapshot written to {db.snapshot(args.dest)}")
    return 0


@command
def cmd_check(args: argparse.Namespace) -> int:
    from .engine.check import check_database

    report = check_database(args.data_dir)
    print(report.text())
    return 0 if report.healthy else 1


@command
def cmd_restore(args: argparse.Namespace) -> int:
    from .engine.restore import restore_snapshot

    report = restore_snapshot(args.snapshot, args.data_dir)
    print(report.text())
    print(f"restored {args.snapshot} into {report.path}")
    return 0


@command
def cmd_import(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from .errors import CollectionNotFoundError

    xb = np.load(args.file, mmap_mode="r")  # batches are read as they go
    if xb.ndim != 2:
        raise UsageError(f"{args.file} holds shape {xb.shape}: expected (n, dim) vectors")
    n, dim = xb.shape
    ids = _load_ids(args.ids) if args.ids else None
    if ids is not None and ids.shape != (n,):
        raise UsageError(f"{args.ids} holds shape {ids.shape}: expected ({n},), one id per vector")
    payload_lines = open(args.payloads, encoding="utf-8") if args.payloads else None
    # a long import must not hit the default per-call deadline
    with open_target(args, timeout=None) as db:
        try:
            col = db.get_collection(args.collection)
        except CollectionNotFoundError:
            if not args.create:
                raise
            col = db.create_collection(args.collection, dim=dim, metric=args.metric,
                                       quantization=parse_quantization(args.quantization), id_type=args.id_type)
        if col.config.id_type == "str" and ids is None:
            raise UsageError(f"{args.collection} has str ids: give them with --ids (a .txt file, one id per line)")
        bar = tqdm(total=n, unit="vec", unit_scale=True, desc=f"import {args.collection}", disable=args.quiet)

        def batches() -> Iterator[tuple]:
            for lo in range(0, n, args.batch):
                hi = min(lo + args.batch, n)
                batch_ids = np.asarray(ids[lo:hi]) if ids is not None else np.arange(args.start_id + lo, args.start_id + hi)
                payloads = None
                if payload_lines is not None:
                    lines = list(itertools.islice(payload_lines, hi - lo))
                    if len(lines) != hi - lo:
                        raise UsageError(f"{args.payloads} has fewer lines than {args.file} has vectors")
                    try:
                        payloads = [json.loads(line) for line in lines]
                    except ValueError as exc:
                        raise UsageError(f"{args.payloads}, in lines {lo + 1}-{hi}: {exc}") from None
                yield (batch_ids, np.asarray(xb[lo:hi], dtype=np.float32), payloads)
                bar.update(hi - lo)

        try:
            if hasattr(col, "import_batches"):  # gRPC: one stream, a commit per batch
                written = col.import_batches(batches())
            else:
                written = sum(col.upsert(*batch) for batch in batches())
        finally:
            bar.close()
            if payload_lines is not None:
                payload_lines.close()
        print(f"imported {written} vectors into {args.collection} (now {col.count()} points)")
    return 0


@command
def cmd_search(args: argparse.Namespace) -> int:
    import numpy as np

    if not (args.vector or args.queries or args.like is not None):
        raise UsageError("give the query: --vector 'x1,x2,...', --queries FILE.npy or --like ID")
    flt = parse_filter(args.filter)
    with open_target(args) as db:
        col = db.get_collection(args.collection)
        if args.vector:
            try:
                queries = np.array([[float(v) for v in args.vector.split(",")]], dtype=np.float32)
            except ValueError:
                raise UsageError("--vector must be comma-separated numbers") from None
        elif args.queries:
            queries = np.load(args.queries)
        else:
            like: Any = args.like
            if col.config.id_type == "int":
                try:
                    like = int(like)
                except ValueError:
                    raise UsageError(f"{args.collection} has int ids: --like takes an integer, got {like!r}") from None
            found = col.get([like], with_payloads=False)
            if not len(found):
                raise UsageError(f"no point with id {args.like} in {args.collection}")
            queries = found.vectors
        rescore = False if args.no_rescore else None
        result = col.search(queries, k=args.k, filter=flt, oversampling=args.oversampling, rescore=rescore,
                            margin=args.margin)
        payloads: dict[Any, Any] = {}
        # padding: id -1 (int collections) or None (str collections)
        valid = np.not_equal(result.ids, None) if result.ids.dtype == object else result.ids >= 0
        if args.with_payloads:
            hit_ids = np.unique(result.ids[valid])
            points = col.get(hit_ids, with_vectors=False)
            payloads = dict(zip(points.ids.tolist(), points.payloads))
        for i, (row_ids, row_scores, row_valid) in enumerate(zip(result.ids, result.scores, valid)):
            hits = []
            for pid, score, ok in zip(row_ids.tolist(), row_scores.tolist(), row_valid.tolist()):
                if not ok:
                    break
                hit: dict[str, Any] = {"id": pid, "score": round(score, 6)}
                if args.with_payloads:
                    hit["payload"] = payloads.get(pid)
                hits.append(hit)
            print(json.dumps({"query": i, "hits": hits}, ensure_ascii=False))
    return 0


def _load_ids(path: str) -> Any:
    """Ids for import: a .npy file (int64, or str for str collections), or a
    text file of one id per line (str ids)."""
    import numpy as np

    if path.endswith(".npy"):
        return np.load(path, mmap_mode="r")
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    out = np.empty(len(lines), dtype=object)
    out[:] = lines
    return out


# -- parser ---------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vecstore", description="vecstore: compressed vector search")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gRPC daemon on a data directory")
    serve.add_argument("--data-dir", required=True,
                       help="database directory (created if missing); with --ray, the router's catalog directory")
    serve.add_argument("--ray", metavar="ADDRESS",
                       help="serve sharded collections on this Ray cluster (`local`: start a private Ray here) "
                            "instead of an embedded database; needs vecstore[ray] (README \"Scaling out\")")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: all)")
    serve.add_argument("--port", type=int, default=50051, help="port; 0 picks a free one (printed on start)")
    serve.add_argument("--api-key", action="append", help="require this API key (repeatable)")
    serve.add_argument("--api-key-file", action="append", help="file of API keys, one per line (repeatable)")
    serve.add_argument("--read-only-api-key", action="append", help="a key that may only read (repeatable)")
    serve.add_argument("--read-only-api-key-file", action="append", help="file of read-only keys, one per line")
    serve.add_argument("--tls-cert", help="PEM certificate chain: serve TLS (with --tls-key)")
    serve.add_argument("--tls-key", help="PEM private key of --tls-cert")
    serve.add_argument("--max-message-mb", type=int, default=64, help="largest message in MiB, each way (default 64)")
    serve.add_argument("--max-search-queries", type=int, default=10_000,
                       help="queries one Search call may carry (default and most 10000)")
    serve.add_argument("--max-search-results", type=int, default=1_000_000,
                       help="queries x k one Search call may ask for (default and most 1000000)")
    serve.add_argument("--workers", type=int, default=16, help="threads serving calls (default 16)")
    serve.add_argument("--grace", type=float, default=10.0, help="seconds calls in flight get on shutdown (default 10)")
    serve.add_argument("--no-sync", action="store_true", help="do not fsync each commit (faster; a power loss may lose the last writes)")
    serve.add_argument("--no-warm-up", action="store_true", help="report SERVING without warming up the kernels first")
    serve.add_argument("--snapshot-dir", help="directory the CreateSnapshot RPC writes snapshots into (off when not given)")
    serve.add_argument("--metrics-port", type=int, help="serve Prometheus metrics over HTTP on this port (0: a free one)")
    serve.add_argument("--metrics-host", default="127.0.0.1",
                       help="interface of the metrics endpoint (default 127.0.0.1; it has no authentication)")
    serve.add_argument("--log-requests", action="store_true", help="log one line per request (DEBUG on vecstore.requests)")
    serve.add_argument("--log-format", choices=["text", "json"], default="text",
                       help="log lines as text (default) or one JSON object per line")

    demo = sub.add_parser("demo", help="embedded end-to-end run: import, search, recall@10 and queries/s")
    demo.add_argument("--data-dir", default="data/demo", help="database directory (created if missing)")
    demo.add_argument("--base", help=".npy file of base vectors (n, d); synthetic when omitted")
    demo.add_argument("--queries", help=".npy file of query vectors; default: held-out synthetic or base rows")
    demo.add_argument("--n", type=int, default=100_000, help="synthetic base size")
    demo.add_argument("--dim", type=int, default=384, help="synthetic dimension")
    demo.add_argument("--nq", type=int, default=1000, help="number of queries")
    demo.add_argument("--quantization", default="binary", help="quantization kind")

    info = sub.add_parser("info", help="show collections' config, size, RAM and disk")
    info.add_argument("name", nargs="?", help="one collection (default: all)")
    info.add_argument("--json", action="store_true",
                      help="one JSON object per collection (with a cluster: extra.shard_replicas, each replica's "
                           "node, pid, state and count)")
    add_target_options(info)

    lst = sub.add_parser("list", help="list collection names")
    add_target_options(lst)

    create = sub.add_parser("create", help="create a collection")
    create.add_argument("name")
    create.add_argument("--shards", type=int, default=1, help="split by id into this many shards (cluster servers only)")
    create.add_argument("--replicas", type=int, default=1, help="copies of each shard (cluster servers only)")
    create.add_argument("--dim", type=int, required=True)
    create.add_argument("--metric", default="cosine", help="cosine (default), dot or l2")
    create.add_argument("--quantization", default="binary", help='a kind name, or JSON: \'{"kind": "binary", "oversampling": 8}\'')
    create.add_argument("--id-type", default="int", choices=["int", "str"],
                        help="point ids: int (default) or str (UTF-8, up to 256 bytes)")
    add_target_options(create)

    snap = sub.add_parser("snapshot", help="write a consistent copy of the database while writes go on")
    snap.add_argument("dest", help="with --data-dir: a new directory; with --server: a name in the server's --snapshot-dir")
    add_target_options(snap)

    check = sub.add_parser("check", help="verify a database directory (read-only; may run beside its server)")
    check.add_argument("--data-dir", required=True, help="the database (or snapshot) directory")

    restore = sub.add_parser("restore", help="verify a snapshot and copy it into a new database directory")
    restore.add_argument("snapshot", help="a snapshot directory (vecstore snapshot / CreateSnapshot)")
    restore.add_argument("--data-dir", required=True, help="the directory to create: must not exist, or be empty")

    drop = sub.add_parser("drop", help="delete a collection and all its points")
    drop.add_argument("name")
    add_target_options(drop)

    imp = sub.add_parser("import", help="import a .npy file of vectors into a collection, with a progress bar")
    imp.add_argument("collection")
    imp.add_argument("file", help=".npy file of (n, dim) vectors (float16/32/64)")
    imp.add_argument("--ids", help=".npy file of n ids (int64, or str), or a text file of one str id per line "
                                   "(default for int ids: consecutive from --start-id)")
    imp.add_argument("--start-id", type=int, default=0, help="first id when --ids is not given (default 0)")
    imp.add_argument("--payloads", help="JSON-lines file: one object (or null) per vector")
    imp.add_argument("--batch", type=int, default=4096, help="vectors per batch, each one commit (default 4096)")
    imp.add_argument("--create", action="store_true", help="create the collection if missing (dim from the file)")
    imp.add_argument("--metric", default="cosine", help="with --create (default cosine)")
    imp.add_argument("--quantization", default="binary", help="with --create: a kind name or JSON")
    imp.add_argument("--id-type", default="int", choices=["int", "str"], help="with --create: int (default) or str")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    add_target_options(imp)

    search = sub.add_parser("search", help="search a collection; prints one JSON line per query")
    search.add_argument("collection")
    query = search.add_mutually_exclusive_group()
    query.add_argument("--vector", help="one query as comma-separated numbers")
    query.add_argument("--queries", help=".npy file of (nq, dim) queries")
    query.add_argument("--like", help="use the stored vector of this point id (int or str) as the query")
    search.add_argument("-k", "--k", type=int, default=10, help="hits per query (default 10)")
    search.add_argument("--oversampling", type=float, help="override the collection's oversampling")
    search.add_argument("--margin", type=float,
                        help="override the collection's rerank margin (binary codes scored asymmetrically)")
    search.add_argument("--no-rescore", action="store_true", help="code-space scores only (approximate)")
    search.add_argument("--with-payloads", action="store_true", help="add each hit's payload")
    search.add_argument("--filter", help='only points whose payload matches this JSON filter, e.g. \'{"tenant": 42}\'')
    add_target_options(search)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (VecstoreError, UsageError) as exc:
        print(f"vecstore {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a missing or unreadable file
        print(f"vecstore {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
