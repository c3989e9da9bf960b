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


def test_embedded_and_its_server_keep_collections_whole(tmp_path):
    """shards / replicas are in the one interface, but only a cluster takes
    more than 1: the engine and a server over it refuse, saying what to use."""
    import pytest

    import vecstore
    from conftest import serving

    with vecstore.open(tmp_path / "db") as db:
        assert db.create_collection("whole", dim=4, shards=1, replicas=1).name == "whole"
        with pytest.raises(vecstore.InvalidConfigError, match="vecstore serve --ray"):
            db.create_collection("split", dim=4, shards=2)
        with pytest.raises(vecstore.InvalidConfigError, match=r"replicas must be an integer in \[1, 16\]"):
            db.create_collection("split", dim=4, replicas=0)
        assert db.list_collections() == ["whole"]
    with serving(tmp_path / "served") as address, vecstore.connect(address) as client:
        with pytest.raises(vecstore.InvalidConfigError, match="vecstore serve --ray"):
            client.create_collection("split", dim=4, shards=3, replicas=2)
        with pytest.raises(vecstore.InvalidConfigError, match=r"shards must be an integer"):
            client.create_collection("split", dim=4, shards=True)
        assert client.list_collections() == []


def test_partial_travels_over_grpc():
    """SearchResponse.partial carries SearchResult.partial both ways."""
    import numpy as np

    from vecstore.rpc import convert as C
    from vecstore.types import SearchResult

    for partial in (False, True):
        result = SearchResult(ids=np.array([[3, -1]]), scores=np.array([[0.5, np.nan]], np.float32), partial=partial)
        back = C.search_result_from_proto(C.search_result_to_proto(result), 2)
        assert back.partial is partial and back.ids.tolist() == [[3, -1]]
