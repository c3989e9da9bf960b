"""An acknowledged write is synced to disk: each upsert commit calls fdatasync
(LMDB's sync on commit). Checked by tracing a subprocess with strace; with
sync=False the same run makes no data syncs. Run by hand:

    strace -f -e trace=fdatasync,fsync,msync python -c "..."
"""
import re
import shutil
import subprocess
import sys

import pytest

SCRIPT = """
import sys, numpy as np, vecstore
db = vecstore.open(sys.argv[1], sync=sys.argv[2] == "1")
col = db.create_collection("c", dim=8, quantization="none")
rng = np.random.default_rng(0)
print("UPSERTS-START", flush=True)
for b in range(5):
    col.upsert(np.arange(b * 10, b * 10 + 10), rng.standard_normal((10, 8)))
print("UPSERTS-END", flush=True)
db.close()
"""

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (.ci/run installs it)")


def syncs_during_upserts(tmp_path, sync: bool) -> int:
    out = subprocess.run(
        ["strace", "-f", "-e", "trace=fdatasync,fsync,msync,write", "-s", "20",
         sys.executable, "-c", SCRIPT, str(tmp_path / ("db" + str(sync))), "1" if sync else "0"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    trace = out.stderr
    start, end = trace.index("UPSERTS-START"), trace.index("UPSERTS-END")
    return len(re.findall(r"\b(fdatasync|fsync|msync)\(", trace[start:end]))


def test_every_commit_is_synced(tmp_path):
    assert syncs_during_upserts(tmp_path, sync=True) >= 5  # one or more per upsert batch


def test_relaxed_mode_does_not_sync(tmp_path):
    assert syncs_during_upserts(tmp_path, sync=False) == 0
