"""Observability of the server: Prometheus metrics over HTTP, one log line per request."""
import logging
import os
import urllib.request

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

import vecstore
from vecstore import errors as E

from conftest import serving

KEY, READ_KEY = "full-key", "read-key"


def scrape(url):
    """{(sample name, sorted labels): value} of one scrape."""
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def requests(samples, method, code="OK"):
    return samples.get(("vecstore_requests_total", (("code", code), ("method", method))), 0)


def gauge(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def metered(tmp_path):
    """A server with metrics on a free loopback port and API keys; (address, metrics url, data dir)."""
    ctx = serving(tmp_path / "db", metrics_port=0, api_keys=[KEY], read_only_api_keys=[READ_KEY])
    address = ctx.__enter__()
    url = ctx.server.metrics_url
    try:
        yield address, url, tmp_path / "db"
    finally:
        ctx.__exit__(None, None, None)
    assert url.startswith("http://127.0.0.1:")
    with pytest.raises(OSError):  # stopped with the server
        urllib.request.urlopen(url, timeout=5)


def test_request_counters_move_and_collection_gauges_are_right(metered):
    address, url, data_dir = metered
    before = scrape(url)
    assert requests(before, "Points/Search") == 0
    rng = np.random.default_rng(0)
    with vecstore.connect(address, api_key=KEY) as client:
        col = client.create_collection("docs", dim=16, quantization=vecstore.BinaryQuantization(train_size=100))
        col.upsert(np.arange(500), rng.standard_normal((500, 16)), [{"i": i, "tag": f"t{i % 3}"} for i in range(500)])
        col.create_payload_index("tag", "keyword")
        for _ in range(3):
            col.search(rng.standard_normal(16), k=5, filter={"tag": "t1"})
        col.scroll(10)
        with pytest.raises(E.CollectionNotFoundError):
            client.get_collection("nope")
        client.create_collection("empty", dim=4, quantization="none")
        info = col.info()
    with vecstore.connect(address, api_key="wrong") as stranger:
        with pytest.raises(E.UnauthenticatedError):
            stranger.list_collections()
    with vecstore.connect(address, api_key=READ_KEY) as reader:
        with pytest.raises(E.PermissionDeniedError):
            reader.get_collection("docs").set_payload([1], {"x": 1})

    after = scrape(url)
    assert requests(after, "Points/Search") == 3
    assert requests(after, "Points/Upsert") == 1 and requests(after, "Points/Scroll") == 1
    assert requests(after, "Collections/GetCollection", "NOT_FOUND") == 1
    assert requests(after, "Collections/ListCollections", "UNAUTHENTICATED") == 1  # refused calls count too
    assert requests(after, "Points/SetPayload", "PERMISSION_DENIED") == 1
    latency = ("vecstore_request_duration_seconds_count", (("code", "OK"), ("method", "Points/Search")))
    assert after[latency] == 3
    assert after[("vecstore_request_duration_seconds_sum", latency[1])] > 0

    assert gauge(after, "vecstore_collections") == 2
    assert gauge(after, "vecstore_collection_points", collection="docs") == 500 == info.count
    assert gauge(after, "vecstore_collection_points", collection="empty") == 0
    codes = gauge(after, "vecstore_collection_ram_bytes", collection="docs", part="codes")
    indexes = gauge(after, "vecstore_collection_ram_bytes", collection="docs", part="payload_indexes")
    assert indexes == info.extra["payload_index_ram_bytes"] > 0
    assert codes + indexes == info.ram_bytes and codes >= 500 * (16 // 8)
    assert gauge(after, "vecstore_collection_disk_bytes", collection="docs") == info.disk_bytes > 0
    assert gauge(after, "vecstore_lmdb_file_bytes") == os.path.getsize(data_dir / "data.mdb")
    assert gauge(after, "process_resident_memory_bytes") > 0

    with vecstore.connect(address, api_key=KEY) as client:
        client.drop_collection("empty")
    final = scrape(url)
    assert gauge(final, "vecstore_collections") == 1
    assert ("vecstore_collection_points", (("collection", "empty"),)) not in final


def test_metrics_are_off_unless_asked_for(tmp_path):
    ctx = serving(tmp_path / "db")
    ctx.__enter__()
    try:
        assert ctx.server.metrics_url is None
    finally:
        ctx.__exit__(None, None, None)


def test_a_taken_metrics_port_is_a_clean_error(tmp_path):
    ctx = serving(tmp_path / "a", metrics_port=0)
    ctx.__enter__()
    try:
        port = int(ctx.server.metrics_url.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(E.UnavailableError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            with serving(tmp_path / "b", metrics_port=port):
                pass
    finally:
        ctx.__exit__(None, None, None)


def request_records(caplog):
    return [r for r in caplog.records if r.name == "vecstore.requests"]


def test_one_log_line_per_request_with_method_status_latency_peer(tmp_path, caplog):
    with serving(tmp_path / "db") as address, vecstore.connect(address) as client:
        col = client.create_collection("docs", dim=4, quantization="none")
        col.upsert([1, 2], np.eye(2, 4), [{"a": 1}, {"a": 2}])
        with caplog.at_level(logging.DEBUG, logger="vecstore.requests"):
            col.search(np.ones(4), k=1, filter={"a": 2})
            col.import_batches([(np.array([3]), np.ones((1, 4)))])  # a client stream
            with pytest.raises(E.InvalidVectorError):
                col.search(np.zeros(4), k=1)  # rejected by the server (cosine of a zero vector)
            col.scroll(10)
        records = request_records(caplog)
    # one line per call: the engine's own line is left to the server's
    assert [r.vecstore["rpc"] for r in records] == ["Points/Search", "Points/UpsertStream", "Points/Search", "Points/Scroll"]
    assert not [r for r in records if "op" in r.vecstore]
    search, stream, failed, _ = (r.vecstore for r in records)
    assert search["collection"] == "docs" and search["status"] == "OK" and search["filtered"] is True
    assert search["ms"] > 0 and search["peer"].startswith(("ipv4:127.0.0.1:", "ipv6:"))
    assert stream["collection"] == "docs" and stream["status"] == "OK"
    assert failed["status"] == "INVALID_ARGUMENT" and failed["error"] == "INVALID_VECTOR"
    assert records[0].getMessage().startswith("rpc=Points/Search collection=docs status=OK ms=")
    assert all(r.levelno == logging.DEBUG for r in records)


def test_embedded_calls_still_log_their_own_line(tmp_path, caplog):
    with serving(tmp_path / "served"):
        with vecstore.open(tmp_path / "embedded") as db:
            col = db.create_collection("docs", dim=4, quantization="none")
            with caplog.at_level(logging.DEBUG, logger="vecstore.requests"):
                col.upsert([1], np.ones((1, 4)))
    assert [r.vecstore.get("op") for r in request_records(caplog)] == ["upsert"]


def test_no_request_lines_unless_debug(tmp_path, caplog):
    with serving(tmp_path / "db") as address, vecstore.connect(address) as client:
        with caplog.at_level(logging.INFO, logger="vecstore.requests"):
            client.list_collections()
    assert not request_records(caplog)


def test_undecodable_requests_pass_the_key_check_and_are_counted_and_logged(metered, caplog):
    import grpc

    address, url, _ = metered
    bad = b"\xff\xff"  # not a valid message of any request type
    with grpc.insecure_channel(address) as channel, caplog.at_level(logging.DEBUG, logger="vecstore.requests"):
        count = channel.unary_unary("/vecstore.v1.Points/Count")
        stream = channel.stream_unary("/vecstore.v1.Points/UpsertStream")
        codes = []
        for metadata in ((), (("authorization", f"Bearer {READ_KEY}"),), (("authorization", f"Bearer {KEY}"),)):
            for fn, request in ((count, bad), (stream, iter([bad]))):
                with pytest.raises(grpc.RpcError) as info:
                    fn(request, metadata=metadata, timeout=30)
                codes.append(info.value.code().name)
    # the key is checked first: a caller without one learns nothing about its bytes
    assert codes == ["UNAUTHENTICATED", "UNAUTHENTICATED", "INVALID_ARGUMENT", "PERMISSION_DENIED",
                     "INVALID_ARGUMENT", "INVALID_ARGUMENT"]
    samples = scrape(url)
    assert requests(samples, "Points/Count", "INVALID_ARGUMENT") == 2
    assert requests(samples, "Points/UpsertStream", "INVALID_ARGUMENT") == 1
    logged = [(r.vecstore["rpc"], r.vecstore["status"], r.vecstore["collection"]) for r in request_records(caplog)]
    assert logged == [("Points/Count", "UNAUTHENTICATED", "-"), ("Points/UpsertStream", "UNAUTHENTICATED", "-"),
                      ("Points/Count", "INVALID_ARGUMENT", "-"), ("Points/UpsertStream", "PERMISSION_DENIED", "-"),
                      ("Points/Count", "INVALID_ARGUMENT", "-"), ("Points/UpsertStream", "INVALID_ARGUMENT", "-")]
