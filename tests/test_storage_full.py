"""A full disk is a clear StorageFullError: reads keep working, nothing
committed is damaged, writes resume once space returns. The full disk is
simulated in a subprocess with a file size limit (RLIMIT_FSIZE): the kernel
then refuses to grow data.mdb exactly as a full file system would."""
import subprocess
import sys

SCRIPT = r"""
import os, resource, signal, sys
import numpy as np
import vecstore
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
path = sys.argv[1]
db = vecstore.open(path)
col = db.create_collection("c", dim=64, quantization=vecstore.BinaryQuantization(train_size=50))
rng = np.random.default_rng(0)
first = rng.standard_normal((200, 64)).astype(np.float32)
col.upsert(np.arange(200), first)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(os.path.join(path, "data.mdb")) + 4096, hard))
try:
    col.upsert(np.arange(200, 20200), rng.standard_normal((20000, 64)))
    print("NO-ERROR")
except vecstore.StorageFullError as exc:
    print("FULL", exc.status)
assert col.count() == 200
assert col.get(np.arange(200)).vectors.tobytes() == first.tobytes()
assert col.search(first[:5], k=1).ids[:, 0].tolist() == [0, 1, 2, 3, 4]
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # space returns
col.upsert(np.arange(200, 20200), rng.standard_normal((20000, 64)))
db.close()
with vecstore.open(path) as db:
    col = db.get_collection("c")
    assert col.count() == 20200
    assert col.get(np.arange(200)).vectors.tobytes() == first.tobytes()
print("RESUMED")
"""


def test_disk_full_then_space_returns(tmp_path):
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "db")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "FULL RESOURCE_EXHAUSTED" in out.stdout, out.stdout
    assert "RESUMED" in out.stdout
