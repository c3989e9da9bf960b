"""Regenerate the Python code of the wire protocol: `make proto`.

    python proto/generate.py [--out DIR]

Compiles proto/vecstore/v1/vecstore.proto into vecstore/rpc/v1/ (messages,
type stubs, gRPC stubs). The proto directory is mapped onto the Python
package path, so the generated modules import each other as
`vecstore.rpc.v1.*` with no rewriting. tests/test_grpc_proto.py runs this
into a temporary directory and fails when the committed files differ.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto" / "vecstore" / "v1"
PACKAGE_PATH = "vecstore/rpc/v1"  # where the generated modules live, from ROOT
PROTO_FILES = ["vecstore.proto"]
GENERATED = ["vecstore_pb2.py", "vecstore_pb2.pyi", "vecstore_pb2_grpc.py"]


def generate(out: Path) -> list[Path]:
    """Write the generated modules under out/vecstore/rpc/v1/; returns their paths."""
    from grpc_tools import protoc  # dev dependency: grpcio-tools

    out.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{PACKAGE_PATH}={PROTO_DIR}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *(f"{PACKAGE_PATH}/{name}" for name in PROTO_FILES),
    ]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed: {' '.join(args)}")
    return [out / PACKAGE_PATH / name for name in GENERATED]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="output root (default: the repository)")
    for path in generate(parser.parse_args().out):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
