"""Sixteen concurrent clients with mixed searches, upserts and deletes
against `vecstore serve` for a few seconds: not one call fails, and the
server exits 0 on SIGTERM afterwards. The throughput of the same workload
is measured by `python -m bench.bench_load` (figures in bench/RESULTS.md);
nothing here checks speed."""
from bench import bench_load


def test_sixteen_clients_mixed_workload_without_errors():
    args = bench_load.parse_args(["--seconds", "3", "--warmup", "0.5", "--clients", "16", "--n", "3000", "--dim", "32"])
    figures = bench_load.run(args)
    assert figures["errors_by_status"] == {}, figures["error_examples"]
    assert figures["server_exit_code"] == 0
    for kind in bench_load.KINDS:  # every kind of call was exercised
        assert figures["per_kind"][kind]["ok"] > 0
    assert figures["final_count"] >= 3000
