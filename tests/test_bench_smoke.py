"""The comparison harness runs end to end on tiny data, so it does not rot.

Figures are not checked for speed (no timing assertions): only that every
installed system ran, that recall is computed right, that a missing peer is
reported, and that the report and the plot are written.
"""
import json
import math

import numpy as np
import pytest

from bench import compare, report
from bench.measure import recall_at_k
from bench.systems import System, rerank_from_ram


class _Absent(System):
    name = "absent peer"
    family = "faiss"
    requires = ("no_such_module_for_the_smoke_test",)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    results = tmp / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Someone else's section\n\nkeep me\n")
    real_peers = compare.all_peers
    compare.all_peers = lambda n, dim: real_peers(n, dim) + [_Absent()]
    try:
        out = compare.main([
            "--synthetic", "1500", "--dim", "32", "--nq", "12", "--max-params", "2", "--cold-nq", "4",
            "--workdir", str(tmp / "work"), "--cache-dir", str(tmp / "data"), "--out-dir", str(tmp / "out"),
            "--results", str(results), "--plot", str(tmp / "plot.png"), "--quiet",
        ])
    finally:
        compare.all_peers = real_peers
    return out, tmp


def test_every_installed_system_runs(smoke):
    out, _ = smoke
    assert out["failed"] == {}
    ran = {p["system"] for p in out["points"]}
    assert any(s.startswith("vecstore binary") for s in ran)
    assert "faiss HNSW32,Flat" in ran  # faiss is a runtime dependency: always present
    figures = ("qps_single", "qps_batch", "p50_ms", "p99_ms", "ram_bpv")
    for p in out["points"]:  # every row carries every figure, measured (not a placeholder)
        assert 0.0 <= p["recall"] <= 1.0
        assert all(math.isfinite(p[f]) and p[f] > 0 for f in figures), p
        assert p["p99_ms"] >= p["p50_ms"]


def test_built_indexes_are_removed(smoke):
    _, tmp = smoke
    assert list((tmp / "work").iterdir()) == []  # LMDB and Lance directories go after measuring


def test_missing_peer_is_reported_not_fatal(smoke):
    out, _ = smoke
    assert "no_such_module_for_the_smoke_test" in out["missing"]["absent peer"]


def test_recall_figures_are_right(smoke):
    out, _ = smoke
    exact = [p for p in out["points"] if p["system"] == "vecstore none"]
    assert exact and exact[0]["recall"] >= 0.99  # exact search finds the ground truth
    binary = [p for p in out["points"] if p["system"] == "vecstore binary" and p["cache"] == "warm"]
    low, high = min(binary, key=lambda p: p["candidates"]), max(binary, key=lambda p: p["candidates"])
    assert high["recall"] >= 0.9 and high["recall"] >= low["recall"]
    assert high["ram_bpv"] < 64  # 32-d sign codes + id map


def test_cold_runs_for_disk_readers(smoke):
    out, _ = smoke
    cold = {p["system"] for p in out["points"] if p["cache"] == "cold"}
    assert "vecstore binary" in cold
    assert "vecstore none" not in cold  # searches RAM only


def test_outputs_written(smoke):
    out, tmp = smoke
    text = (tmp / "RESULTS.md").read_text()
    assert "## Someone else's section\n\nkeep me" in text
    assert f"## Peer comparison: {out['dataset']}" in text
    assert "absent peer" in text and "### Targets" in text
    try:
        import matplotlib  # noqa: F401 - a bench extra: without it the run must say so
    except ImportError:
        assert "plot: not drawn" in text and not (tmp / "plot.png").exists()
    else:
        assert (tmp / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads(next((tmp / "out").glob("compare_*.json")).read_text())
    assert len(saved["points"]) == len(out["points"])


def test_replace_section_keeps_others(tmp_path):
    path = str(tmp_path / "R.md")
    report.replace_section(path, "A", "one")
    report.replace_section(path, "B", "two")
    report.replace_section(path, "A", "three\nlines")
    text = open(path).read()
    assert text == "# Benchmark results\n\n## A\n\nthree\nlines\n\n## B\n\ntwo\n"


def test_recall_at_k_counts_overlap():
    truth = np.array([[1, 2, 3], [4, 5, 6]])
    found = np.array([[3, 9, 1], [-1, -1, -1]])
    assert recall_at_k(found, truth, 3) == pytest.approx(2 / 6)


def test_rerank_from_ram_matches_brute_force():
    rng = np.random.default_rng(0)
    xb = rng.standard_normal((200, 8)).astype(np.float32)
    xq = rng.standard_normal((20, 8)).astype(np.float32)
    cand = np.stack([rng.permutation(200)[:30] for _ in range(20)])
    cand[0, :25] = -1  # fewer valid candidates than k: pad with -1
    got = rerank_from_ram(xb, xq, cand, 10)
    for q in range(20):
        valid = cand[q][cand[q] >= 0]
        want = valid[np.argsort(-(xb[valid] @ xq[q]), kind="stable")][:10]
        assert list(got[q][: len(want)]) == list(want)
        assert (got[q][len(want):] == -1).all()


def test_merge_keeps_systems_not_rerun(tmp_path):
    old = {"command": "first", "points": [
        {"system": "faiss X", "family": "faiss", "recall": 0.5},
        {"system": "vecstore binary", "family": "vecstore", "recall": 0.1},
    ], "missing": {"hnswlib": "absent"}, "failed": {}}
    (tmp_path / "compare_d.json").write_text(json.dumps(old))
    args = compare.parser().parse_args(["--synthetic", "10", "--out-dir", str(tmp_path), "--merge"])
    args.command = "second"
    points = [{"system": "vecstore binary", "family": "vecstore", "recall": 0.9}]
    missing, failed = {}, {}
    compare.merge_previous(args, "d", points, missing, failed, {"vecstore binary"})
    assert [(p["system"], p["recall"]) for p in points] == [("vecstore binary", 0.9), ("faiss X", 0.5)]
    assert missing == {"hnswlib": "absent"}
    assert args.command == "first ; then second"


def test_npy_batches_reads_every_row_in_order(tmp_path):
    from bench.scale import npy_batches

    x = np.arange(7 * 3, dtype=np.float16).reshape(7, 3)
    np.save(tmp_path / "x.npy", x)
    parts = list(npy_batches(str(tmp_path / "x.npy"), 3))
    assert [lo for lo, _ in parts] == [0, 3, 6]
    assert np.array_equal(np.vstack([b for _, b in parts]), x)


def test_scale_phases_run_on_tiny_data(tmp_path):
    """bench.scale's three phases, in this process (the tool runs each in its own)."""
    from bench.datasets import make_synthetic_folder
    from bench.scale import phase_ingest, phase_open, phase_probe, scale_section

    data = make_synthetic_folder(str(tmp_path / "data"), n=2500, dim=32, nq=20)
    db = str(tmp_path / "db")
    ingest = phase_ingest(data, db, {"quantization": "binary"})
    assert ingest["n"] == 2500 and ingest["trained"] and ingest["peak_rss"] >= ingest["rss_before"] > 0
    opened = phase_open(db, data)
    assert opened["ready_s"] >= opened["open_s"] > 0
    probe = phase_probe(db, data, nq=20, cold_nq=5, search={"oversampling": 64})
    assert probe["count"] == 2500 and probe["recall"] >= 0.9
    row = {"dataset": "tiny", "n": 2500, "config": "binary", "ingest": ingest, "cold_open": opened,
           "cold_open_dropped": False, "warm_open": opened, "probe": probe}
    text = scale_section([row, {**row, "n": 5000}], "cmd", None)
    assert "How cost grows with N" in text


def test_load_bench_runs_on_tiny_data(tmp_path):
    """bench.bench_load for 2 s with 4 clients: every kind of call ran, none
    failed, and the section is written (figures only checked for shape)."""
    from bench import bench_load

    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Someone else's section\n\nkeep me\n")
    args = ["--seconds", "2", "--warmup", "0.5", "--clients", "4", "--n", "1500", "--dim", "16"]
    figures = bench_load.run(bench_load.parse_args(args))
    assert figures["errors_by_status"] == {} and figures["server_exit_code"] == 0
    assert not bench_load.failed(figures)
    for kind in bench_load.KINDS:
        f = figures["per_kind"][kind]
        assert f["ok"] > 0 and f["errors"] == 0 and f["ops_s"] > 0
        assert f["p99_ms"] >= f["p50_ms"] > 0
    total = figures["total"]
    assert total["ok"] == sum(figures["per_kind"][k]["ok"] for k in bench_load.KINDS)
    assert figures["final_count"] >= 1500  # clients delete only points they upserted

    body = bench_load.section(figures, bench_load.parse_args(args), "python -m bench.bench_load ...")
    bench_load.report.replace_section(str(results), bench_load.HEADING, body)
    text = results.read_text()
    assert "## Someone else's section\n\nkeep me" in text
    assert f"## {bench_load.HEADING}" in text and "| search |" in text and "Errors by status: none" in text


def test_load_bench_fails_on_any_error():
    from bench import bench_load

    clean = {"total": {"errors": 0}, "server_exit_code": 0}
    assert not bench_load.failed(clean)
    assert bench_load.failed({**clean, "total": {"errors": 1}})
    assert bench_load.failed({**clean, "server_exit_code": 1})


def test_estimator_table_runs_and_the_correction_helps(capsys):
    """bench_estimators on small synthetic data: a row per ranking, recall in
    [0, 1], growing with candidates, and the corrected ranking at least as good
    as the plain bit-plane one at the widest cut-off."""
    from bench import bench_estimators

    bench_estimators.main(["--n", "3000", "--nq", "30"])
    rows = {line.split("|")[1].strip(): [float(c) for c in line.split("|")[2:-1]]
            for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and not line.startswith("| ranking")}
    assert set(rows) == {"hamming", "bitplane", "corrected"}
    for recalls in rows.values():
        assert all(0 <= r <= 1 for r in recalls) and recalls == sorted(recalls)
    assert rows["corrected"][-1] >= rows["bitplane"][-1]


def test_cold_bench_runs_on_tiny_data(tmp_path, capsys):
    """bench.cold: every variant measured in all three cache states, the margin
    variant's reads counted (fewer than the 40 candidates it ranks), and the
    disk's own read rate and the ceiling it sets reported."""
    from bench import cold

    cold.main(["--synthetic", "1500", "--nq", "20", "--cold-nq", "4", "--oversampling", "4",
               "--workdir", str(tmp_path / "work"), "--cache-dir", str(tmp_path / "data"), "--results", ""])
    text = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.splitlines() if line.startswith("| float")}
    assert set(rows) == {"float32 vectors", "float16 vectors", "float16 vectors, margin 2"}
    assert rows["float32 vectors"][1] == "40"
    assert 10 <= float(rows["float16 vectors, margin 2"][1]) < 40
    assert "disk ceiling q/s" in text
    disk = [line.split("|")[1].strip() for line in text.splitlines()
            if line.startswith("| ") and (" Python thread" in line or "at once, one thread |" in line)]
    assert disk == ([f"{t} Python thread{'s' if t > 1 else ''}" for t in cold.DISK_THREADS]
                    + [f"{cold.AHEAD_BATCH} pages asked for at once, one thread"])
