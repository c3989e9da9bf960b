"""The layering promise: kernels import only numpy/numba, the engine never imports gRPC."""
import subprocess
import sys


def modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    return set(out.stdout.split())


def test_engine_does_not_import_grpc():
    mods = modules_after("import vecstore; vecstore.open")
    assert not {m for m in mods if m == "grpc" or m.startswith("grpc.")}


def test_native_imports_only_numpy_and_numba():
    mods = modules_after("import native")
    assert not {m for m in mods if m.split(".")[0] in {"vecstore", "lmdb", "grpc", "faiss"}}


CLIENT_ONLY = """
import sys
import numpy as np
import vecstore
with vecstore.connect(sys.argv[1]) as db:
    docs = db.create_collection("docs", dim=8)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((20, 8)).astype(np.float32)
    docs.upsert(list(range(20)), vectors, payloads=[{"n": i} for i in range(20)])
    hits = docs.search(vectors[:2], k=3, filter={"n": {"$lt": 10}})
    assert hits.ids[:, 0].tolist() == [0, 1], hits.ids
print("\\n".join(sys.modules))
"""


def test_client_user_does_not_load_the_engine(tmp_path):
    # The server runs in its own process; the client process must not load storage code.
    from daemon import Daemon

    daemon = Daemon(tmp_path / "data", "--no-warm-up")
    try:
        daemon.wait_serving()
        out = subprocess.run([sys.executable, "-c", CLIENT_ONLY, daemon.address], capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        mods = set(out.stdout.split())
        assert "vecstore.rpc.client" in mods  # the client did run
        loaded = {m for m in mods if m.startswith("vecstore.engine") or m.split(".")[0] in {"lmdb", "numba", "faiss"}
                  or m.split(".")[0].startswith("native")}
        assert not loaded, sorted(loaded)
    finally:
        daemon.stop()


def test_api_layer_imports_neither_engine_nor_grpc():
    mods = modules_after("import vecstore.api.filters, vecstore.api.indexes, vecstore.api.interface, "
                         "vecstore.api.payloads, vecstore.api.sparse_rows, vecstore.api.validate")
    assert "vecstore.api.validate" in mods
    assert not {m for m in mods if m.startswith("vecstore.engine") or m.startswith("vecstore.rpc")
                or m.split(".")[0] in {"grpc", "lmdb", "numba", "native", "faiss"}}


def test_vecstore_does_not_import_langchain():
    # the integration's framework loads only with vecstore.integrations.langchain itself
    mods = modules_after("import vecstore, vecstore.integrations; vecstore.open")
    assert "vecstore.engine" in mods
    assert not {m for m in mods if m.split(".")[0] in {"langchain_core", "langchain", "pydantic"}}
