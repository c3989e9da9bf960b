"""The llama-index extra stays optional: `import vecstore` never loads it, and
without it the integration fails with an ImportError naming the extra."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BLOCK = """
import sys
class Blocker:  # as if llama-index-core were not installed
    def find_spec(self, name, path=None, target=None):
        if name == "llama_index" or name.startswith("llama_index."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, Blocker())
"""


def run(code: str, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_vecstore_works_without_llama_index(tmp_path):
    proc = run(BLOCK + """
import numpy as np
import vecstore, vecstore.integrations
with vecstore.open("db") as db:
    col = db.create_collection("c", dim=2, quantization="none")
    col.upsert([1], np.ones((1, 2), np.float32))
    assert col.count() == 1
try:
    import vecstore.integrations.llama_index
except ImportError as exc:
    print("ImportError:", exc)
else:
    raise SystemExit("the integration imported without llama_index")
""", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "ImportError:" in proc.stdout
    assert "pip install 'vecstore[llama-index]'" in proc.stdout


def test_import_vecstore_does_not_load_llama_index(tmp_path):
    proc = run("""
import sys
import vecstore, vecstore.integrations
with vecstore.open("db") as db:
    db.create_collection("c", dim=2)
vecstore.connect  # the client entry point too
assert not [m for m in sys.modules if m.split(".")[0] == "llama_index"], "llama_index was imported"
print("ok")
""", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_the_integration_loads_neither_engine_nor_grpc(tmp_path):
    # a client-only user (vecstore.connect) of the store needs no storage code
    import pytest

    pytest.importorskip("llama_index.core", reason="the llama-index extra is not installed")
    proc = run("""
import sys
import vecstore.integrations.llama_index
print("\\n".join(sys.modules))
""", tmp_path)
    assert proc.returncode == 0, proc.stderr
    mods = set(proc.stdout.split())
    assert "vecstore.integrations.llama_index" in mods
    assert not {m for m in mods if m.startswith("vecstore.engine") or m.split(".")[0] in {"grpc", "lmdb", "numba"}}
