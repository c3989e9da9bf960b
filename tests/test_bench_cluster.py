"""bench.cluster end to end with --quick (a local 3-node Ray cluster, 4,000
points): the output's structure, sharded recall equal to the unsharded one
where both rerank every point, the fault timings recovered, the RESULTS.md
section written beside other sections. Nothing about speed is checked."""
import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before Ray is imported

import json
import math

import pytest

ray = pytest.importorskip("ray")

from bench import cluster  # noqa: E402

pytestmark = pytest.mark.ray
N, NQ = 4000, 64


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench_cluster")
    results = tmp / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Someone else's section\n\nkeep me\n")
    out = cluster.main([
        "--quick", "--n", str(N), "--queries", str(NQ),
        # every point is a candidate: the unsharded search is exact, so the sharded one must equal it
        "--oversampling", str(N // 10),
        "--workdir", str(tmp / "work"), "--cache-dir", str(tmp / "data"), "--json", str(tmp / "out.json"),
        "--results", str(results), "--quiet",
    ])
    return out, tmp


def test_every_layout_of_every_config_is_measured(quick):
    out, _ = quick
    assert [c["config"].split("+")[0] for c in out["configs"]] == ["binary", "binary"]
    assert out["configs"][1]["config"].startswith("binary+IVF")
    for cfg in out["configs"]:
        rows = {r["layout"]: r for r in cfg["layouts"]}
        assert list(rows) == ["unsharded (embedded)", "shards=3 replicas=1", "shards=3 replicas=2"]
        for r in rows.values():
            assert r["ingest"]["vectors_per_s"] > 0 and math.isfinite(r["ingest"]["seconds"])
            for kind, calls in (("single", NQ), ("batch64", 1)):
                figures = r[kind]
                assert figures["calls"] == calls
                assert all(math.isfinite(figures[f]) and figures[f] > 0 for f in ("p50_ms", "p99_ms", "qps"))
                assert figures["p99_ms"] >= figures["p50_ms"]
            assert not r["partial"]
        for name in ("shards=3 replicas=1", "shards=3 replicas=2"):
            r = rows[name]
            assert r["count"] == N and r["left_behind_during_ingest"] == [[], [], []]
            costs = r["costs"]
            for kind in ("single", "batch64"):
                c = costs[kind]
                assert len(c["engine_ms_p50_per_shard"]) == len(c["actor_call_ms_p50_per_shard"]) == 3
                assert c["slowest_engine_ms_p50"] > 0 and c["router_ms_p50"] > 0
                assert c["request_bytes"] > 0 and c["response_bytes_per_shard"] > 0
            # a batch of 64 float32 queries is at least their bytes on the wire
            assert costs["batch64"]["request_bytes"] > 64 * out["dim"] * 4 > costs["single"]["request_bytes"]
            assert costs["upsert_request_bytes_per_vector"] >= out["dim"] * 4 + 8
            assert costs["empty_call_ms_p50"] > 0


def test_sharded_recall_equals_unsharded(quick):
    out, _ = quick
    for cfg in out["configs"]:
        unsharded, *sharded = cfg["layouts"]
        assert unsharded["recall"] >= 0.99  # exact: every point reranked
        for r in sharded:
            assert r["recall"] == pytest.approx(unsharded["recall"], abs=2 / (NQ * 10)), (cfg["config"], r["layout"])
            assert r["agreement_with_unsharded"] >= 1 - 2 / (NQ * 10)
            assert r["recall_batch"] == pytest.approx(r["recall"], abs=2 / (NQ * 10))


def test_faults_recover(quick):
    out, _ = quick
    f = out["faults"]
    one, two, up = f["kill_replicas_1"], f["kill_replicas_2"], f["catch_up"]
    for r in (one, two):
        assert r["new_pid"] != r["old_pid"] and r["state_after"] == "serving"
        assert r["wrong_searches"] == 0  # whole answers are always the right ones
        assert r["seconds_to_full_results"] is not None
    assert up["left_behind"] and up["caught_up"] and up["in_sync_after"] and up["search_whole_after"]
    assert up["points_written_while_down"] == cluster.QUICK["catchup_points"]
    assert up["shard_bytes_copied"] > 0


def test_outputs_are_written(quick):
    out, tmp = quick
    saved = json.loads((tmp / "out.json").read_text())
    assert saved["configs"][0]["layouts"][1]["recall"] == out["configs"][0]["layouts"][1]["recall"]
    text = (tmp / "RESULTS.md").read_text()
    assert "## Someone else's section\n\nkeep me" in text
    assert f"## Scale-out on Ray: {out['dataset']}" in text
    assert "python -m bench.cluster --quick" in text and "router overhead ms" in text
    assert "### Faults (binary)" in text
    assert not (tmp / "work").exists()  # the collections and the router's catalog are removed
