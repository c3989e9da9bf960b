"""vecstore works without Ray installed: only calling vecstore.cluster(...)
needs it, and then says how to get it (the `ray` extra is optional)."""
import subprocess
import sys

BLOCKED = """
import sys
sys.modules["ray"] = None  # `import ray` now fails as if Ray were not installed
import numpy as np
import vecstore
from vecstore.cluster import routing  # pure numpy: fine without Ray
with vecstore.open(sys.argv[1]) as db:
    col = db.create_collection("c", dim=4, quantization="none")
    col.upsert([1, 2], np.eye(4, dtype=np.float32)[:2])
    assert col.search(np.eye(4, dtype=np.float32)[0], k=1).ids.tolist() == [[1]]
assert callable(vecstore.cluster)
try:
    vecstore.cluster("local", sys.argv[1] + "-router")
except ImportError as exc:
    print("ERROR:", exc)
else:
    raise SystemExit("vecstore.cluster(...) worked without Ray")
try:
    vecstore.cluster.ClusterDatabase
except ImportError as exc:
    print("ERROR:", exc)
"""


def test_everything_but_cluster_works_without_ray(tmp_path):
    out = subprocess.run([sys.executable, "-c", BLOCKED, str(tmp_path / "db")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and all("pip install 'vecstore[ray]'" in line for line in lines), out.stdout
