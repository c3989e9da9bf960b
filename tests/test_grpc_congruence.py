"""Embedded and gRPC are one interface: same signatures, and the same operations
give the same results (ids equal, scores within float tolerance, same errors)."""
import inspect

import numpy as np
import pytest

import vecstore
from vecstore import BinaryQuantization
from vecstore.api import interface
from vecstore.config import METRICS
from vecstore.rpc.client import Client, RemoteCollection

from conftest import serving
from synthetic import clustered

#: embedded methods the client does not offer, each with the reason
EMBEDDED_ONLY = {
    # the data file's size, for the server's own metrics; clients get disk use
    # per collection from info()
    "file_bytes",
    # read-only embedded handles beside another process's writer; a server is
    # that writer itself, never behind, and its read-only mode is per API key
    "read_only",
    "refresh",
}
#: client methods embedded mode does not need
CLIENT_ONLY = {
    "import_batches",  # a stream of batches; embedded mode calls upsert per batch
}


def public(cls):
    return {name for name in dir(cls) if not name.startswith("_")}


def parameters(fn):
    """Parameters as (name, kind, default), without the client's extra `timeout`."""
    params = list(inspect.signature(fn).parameters.values())
    if params and params[-1].name == "timeout" and params[-1].kind is inspect.Parameter.KEYWORD_ONLY:
        params = params[:-1]
    return [(p.name, p.kind, p.default) for p in params]


@pytest.mark.parametrize("local,remote,abstract", [(vecstore.Database, Client, interface.Database),
                                                   (vecstore.Collection, RemoteCollection, interface.Collection)])
def test_same_interface(local, remote, abstract):
    """Both surfaces implement vecstore.api.interface: a method added to one
    fails here until the interface and the other surface have it too (or it is
    listed as embedded-only or client-only, with a reason)."""
    assert issubclass(local, abstract) and issubclass(remote, abstract)
    assert not local.__abstractmethods__ and not remote.__abstractmethods__
    assert public(local) - EMBEDDED_ONLY == public(abstract)
    assert public(remote) - CLIENT_ONLY == public(abstract)
    for name in public(abstract):
        spec = getattr(abstract, name)
        for surface in (local, remote):
            mine = getattr(surface, name)
            if isinstance(spec, property):
                assert isinstance(mine, property), (surface, name)
            else:
                assert parameters(mine) == parameters(spec), (surface, name)


def operations(db, kind, metric):
    """A scripted session; returns everything observable, in order."""
    data = clustered(1200, 32, nq=20, seed=21)
    quantization = "none" if kind == "none" else BinaryQuantization(train_size=300)
    out = {}
    col = db.create_collection("docs", dim=32, metric=metric, quantization=quantization)
    out["config"] = col.config
    payloads = [{"i": int(i), "tag": ["a", "b"][i % 2]} if i % 3 else None for i in range(1200)]
    out["written_1"] = col.upsert(data.ids[:200], data.xb[:200] * 2.0, payloads[:200])
    out["search_small"] = col.search(data.xq, k=10)  # binary: still exact, before training
    out["written_2"] = col.upsert(data.ids[200:], data.xb[200:] * 2.0, payloads[200:])
    out["search"] = col.search(data.xq, k=10)
    out["search_one"] = col.search(data.xq[0], k=3)
    out["search_coarse"] = col.search(data.xq, k=10, rescore=False)
    out["search_oversampled"] = col.search(data.xq, k=7, oversampling=3)
    out["search_big_k"] = col.search(data.xq[:2], k=1500)  # more than the collection holds
    out["get"] = col.get(np.concatenate([data.ids[[5, 3, 900]], [10**12]]))
    out["get_bare"] = col.get(data.ids[:4], with_vectors=False, with_payloads=False)
    out["replace"] = col.upsert(data.ids[:2], data.xb[600:602], [{"replaced": True}, None])
    out["delete"] = col.delete(np.concatenate([data.ids[100:300], [10**12]]))
    out["count"] = col.count()
    out["search_after_delete"] = col.search(data.xq, k=10)
    col.create_payload_index("i", "integer")
    out["indexes"] = col.payload_indexes()
    out["count_filtered"] = col.count(filter={"tag": "a"})
    out["count_indexed"] = col.count(filter={"i": {"$gte": 600}})
    out["search_filtered"] = col.search(data.xq, k=10, filter={"tag": "b", "i": {"$lt": 900}})
    out["search_few_match"] = col.search(data.xq, k=10, filter={"i": {"$in": [400, 401, 403]}})
    out["search_hits"] = col.search(data.xq, k=10, filter={"tag": "b"}, with_payloads=True, with_vectors=True)
    out["search_by_id"] = col.search_by_id(data.ids[[400, 500, 400]], k=10, with_payloads=True, with_vectors=True)
    out["scroll"] = col.scroll(50, after=int(data.ids[400]), filter={"tag": "a"}, with_vectors=True)
    out["scroll_end"] = col.scroll(10_000, with_payloads=False)
    out["set_payload"] = col.set_payload(data.ids[300:310], {"tag": "c"})
    out["overwrite_payload"] = col.overwrite_payload(data.ids[310:312], None)
    out["delete_payload_keys"] = col.delete_payload_keys(data.ids[312:320], ["i", "nothing.here"])
    out["get_edited"] = col.get(data.ids[300:320], with_vectors=False)
    out["delete_filtered"] = col.delete(filter={"tag": "c"})
    out["drop_index"] = col.drop_payload_index("i")
    out["drop_index_again"] = col.drop_payload_index("i")
    col.optimize()
    out["search_after_optimize"] = col.search(data.xq, k=10)
    out["info"] = col.info()
    out["list"] = db.list_collections()
    for name, call in [
        ("err_dim", lambda: col.upsert([1], np.ones((1, 31)))),
        ("err_zero", lambda: col.search(np.zeros(32), k=1)),
        ("err_k", lambda: col.search(data.xq, k=0)),
        ("err_exists", lambda: db.create_collection("docs", dim=4)),
        ("err_missing", lambda: db.get_collection("nope")),
        ("err_filter", lambda: col.search(data.xq, k=1, filter={"$or": [{"tag": "a"}, {"i": {"$inn": [1]}}]})),
        ("err_delete_both", lambda: col.delete([1], filter={"tag": "a"})),
        ("err_scroll_limit", lambda: col.scroll(0)),
        ("err_index_kind", lambda: col.create_payload_index("tag", "text")),
        ("err_keys", lambda: col.delete_payload_keys([1], "tag")),
        ("err_by_id_missing", lambda: col.search_by_id([int(data.ids[400]), 10**12], k=3)),
    ]:
        try:
            call()
            out[name] = None
        except vecstore.VecstoreError as exc:
            out[name] = (type(exc), str(exc))
    db.drop_collection("docs")
    out["list_after_drop"] = db.list_collections()
    return out


def assert_same(a, b, key):
    if isinstance(a, vecstore.SearchResult):
        np.testing.assert_array_equal(a.ids, b.ids, err_msg=key)
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6, atol=1e-6, err_msg=key)
        assert a.ids.dtype == b.ids.dtype and a.scores.dtype == b.scores.dtype, key
        assert a.payloads == b.payloads, key
        assert (a.vectors is None) == (b.vectors is None), key
        if a.vectors is not None:  # NaN padding compared too
            assert a.vectors.shape == b.vectors.shape and a.vectors.tobytes() == b.vectors.tobytes(), key
    elif isinstance(a, vecstore.ScrollPage):
        assert a.next_cursor == b.next_cursor, key
        assert_same(a.points, b.points, key)
    elif isinstance(a, vecstore.Points):
        np.testing.assert_array_equal(a.ids, b.ids, err_msg=key)
        assert a.vectors.shape == b.vectors.shape and a.vectors.tobytes() == b.vectors.tobytes(), key
        assert a.payloads == b.payloads, key
    else:
        assert a == b and type(a) is type(b), key


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("kind", ["none", "binary"])
def test_same_operations_same_results(tmp_path, kind, metric):
    with vecstore.open(tmp_path / "embedded") as db:
        local = operations(db, kind, metric)
    with serving(tmp_path / "served") as address, vecstore.connect(address) as client:
        remote = operations(client, kind, metric)
    assert local.keys() == remote.keys()
    for key in local:
        assert_same(local[key], remote[key], key)
    assert local["err_dim"][0] is vecstore.DimensionMismatchError  # the errors compared are real ones
