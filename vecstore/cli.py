"""The `vecstore` command: a thin layer over the library.

Every command turns a vecstore error into one clean line on stderr and exit
code 2; the work itself is done by the library.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from .errors import VecstoreError

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    COMMANDS[fn.__name__.removeprefix("cmd_").replace("_", "-")] = fn
    return fn


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
def cmd_info(args: argparse.Namespace) -> int:
    from . import open as open_db

    with open_db(args.data_dir) as db:
        for name in db.list_collections():
            info = db.get_collection(name).info()
            q = info.config.quantization
            per_vec = info.ram_bytes / info.count if info.count else 0.0
            print(
                f"{name}: dim={info.config.dim} metric={info.config.metric} quantization={q.to_dict()} "
                f"count={info.count} trained={info.trained} ram={info.ram_bytes}B ({per_vec:.1f} B/vector) "
                f"disk={info.disk_bytes}B payload_indexes={info.extra.get('payload_indexes', {})}"
            )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vecstore", description="vecstore: compressed vector search")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="embedded end-to-end run: import, search, recall@10 and queries/s")
    demo.add_argument("--data-dir", default="data/demo", help="database directory (created if missing)")
    demo.add_argument("--base", help=".npy file of base vectors (n, d); synthetic when omitted")
    demo.add_argument("--queries", help=".npy file of query vectors; default: held-out synthetic or base rows")
    demo.add_argument("--n", type=int, default=100_000, help="synthetic base size")
    demo.add_argument("--dim", type=int, default=384, help="synthetic dimension")
    demo.add_argument("--nq", type=int, default=1000, help="number of queries")
    demo.add_argument("--quantization", default="binary", help="quantization kind")

    info = sub.add_parser("info", help="show every collection's config, size, RAM and disk")
    info.add_argument("--data-dir", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except VecstoreError as exc:
        print(f"vecstore {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
