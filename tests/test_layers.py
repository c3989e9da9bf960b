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
