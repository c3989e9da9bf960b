"""The async client is the sync client's interface as coroutines: same methods
and signatures, and the same calls give the same results and the same errors
(checked against the sync client and the embedded engine)."""
import asyncio
import inspect

import numpy as np
import pytest

import vecstore
from vecstore import BinaryQuantization
from vecstore.rpc.aio_client import AsyncClient, AsyncRemoteCollection
from vecstore.rpc.client import Client, RemoteCollection

from conftest import serving
from synthetic import clustered
from test_grpc_congruence import assert_same, public
from test_grpc_limits import LIMIT, small  # noqa: F401 - the fixture


@pytest.mark.parametrize("sync,aio", [(Client, AsyncClient), (RemoteCollection, AsyncRemoteCollection)])
def test_same_interface_as_coroutines(sync, aio):
    """A method added to the sync client fails here until the async one has it."""
    assert public(sync) == public(aio)
    for name in public(sync):
        mine, theirs = getattr(sync, name), getattr(aio, name)
        if isinstance(mine, property):
            assert isinstance(theirs, property), name
            continue
        assert inspect.signature(mine) == inspect.signature(theirs), name  # timeout included
        assert inspect.iscoroutinefunction(theirs), name
        assert (theirs.__doc__ or "") == (mine.__doc__ or ""), name


async def result(value):
    """The value of a call of either client: awaited when it is a coroutine."""
    return await value if inspect.isawaitable(value) else value


async def session(db):
    """One scripted session for any client (and the engine); returns what it saw."""
    data = clustered(1000, 16, nq=12, seed=5)
    out = {}
    col = await result(db.create_collection("docs", dim=16, metric="dot", quantization=BinaryQuantization(train_size=200)))
    out["config"] = col.config
    payloads = [{"i": i, "tag": ["a", "b", "c"][i % 3]} if i % 4 else None for i in range(1000)]
    out["written"] = await result(col.upsert(data.ids, data.xb, payloads))
    out["search"] = await result(col.search(data.xq, k=8))
    out["search_one"] = await result(col.search(data.xq[0], k=3, rescore=False))
    out["search_filtered"] = await result(col.search(data.xq, k=5, filter={"tag": {"$in": ["a", "c"]}, "i": {"$lt": 700}}))
    out["search_hits"] = await result(col.search(data.xq, k=5, with_payloads=True, with_vectors=True))
    out["search_by_id"] = await result(col.search_by_id(data.ids[:3], k=5, filter={"tag": "b"}, with_payloads=True))
    out["get"] = await result(col.get(np.concatenate([data.ids[[9, 2, 500]], [10**12]])))
    out["get_bare"] = await result(col.get(data.ids[:3], with_vectors=False, with_payloads=False))
    out["scroll"] = await result(col.scroll(40, after=int(data.ids[100]), filter={"tag": "b"}, with_vectors=True))
    out["scroll_end"] = await result(col.scroll(10_000, with_payloads=False))
    out["count"] = await result(col.count())
    out["count_filtered"] = await result(col.count(filter={"$not": {"tag": "a"}}))
    out["delete"] = await result(col.delete(data.ids[:50]))
    out["delete_filtered"] = await result(col.delete(filter={"i": {"$gte": 950}}))
    out["set_payload"] = await result(col.set_payload(data.ids[60:70], {"tag": "z"}))
    out["overwrite_payload"] = await result(col.overwrite_payload(data.ids[70:72], None))
    out["delete_payload_keys"] = await result(col.delete_payload_keys(data.ids[72:80], ["i"]))
    out["get_edited"] = await result(col.get(data.ids[60:80], with_vectors=False))
    await result(col.create_payload_index("tag", "keyword"))
    out["indexes"] = await result(col.payload_indexes())
    out["count_indexed"] = await result(col.count(filter={"tag": "z"}))
    out["drop_index"] = await result(col.drop_payload_index("tag"))
    await result(col.optimize())
    out["search_after_optimize"] = await result(col.search(data.xq, k=8))
    out["info"] = await result(col.info())
    out["same_handle"] = (await result(db.get_collection("docs"))).config
    out["list"] = await result(db.list_collections())
    for name, call in [
        ("err_dim", lambda: col.upsert([1], np.ones((1, 15)))),
        ("err_missing", lambda: db.get_collection("nope")),
        ("err_exists", lambda: db.create_collection("docs", dim=4)),
        ("err_filter", lambda: col.count(filter={"$or": [{"tag": "a"}, {"i": {"$inn": [1]}}]})),
        ("err_k", lambda: col.search(data.xq, k=0)),
        ("err_ids", lambda: col.get([1.5])),
        ("err_keys", lambda: col.delete_payload_keys([1], "tag")),
        ("err_by_id_missing", lambda: col.search_by_id([10**12], k=3)),
    ]:
        try:
            await result(call())
            out[name] = None
        except vecstore.VecstoreError as exc:
            out[name] = (type(exc), str(exc))
    await result(db.drop_collection("docs"))
    try:
        await result(col.count())  # the handle is pinned to the dropped collection
        out["err_dropped"] = None
    except vecstore.VecstoreError as exc:
        out["err_dropped"] = type(exc)
    out["list_after_drop"] = await result(db.list_collections())
    return out


def assert_all_same(reference, other):
    assert reference.keys() == other.keys()
    for key in reference:
        assert_same(reference[key], other[key], key)


def test_same_calls_same_results_as_sync_and_embedded(tmp_path):
    with vecstore.open(tmp_path / "embedded") as db:
        embedded = asyncio.run(session(db))
    with serving(tmp_path / "sync") as address, vecstore.connect(address) as client:
        sync = asyncio.run(session(client))

    async def over_async(address):
        async with vecstore.connect_async(address) as client:
            assert isinstance(client, AsyncClient)
            return await session(client)

    with serving(tmp_path / "async") as address:
        aio = asyncio.run(over_async(address))
    assert_all_same(embedded, sync)
    assert_all_same(sync, aio)
    # the errors compared are the real ones
    assert aio["err_missing"][0] is vecstore.CollectionNotFoundError
    assert aio["err_filter"][0] is vecstore.InvalidFilterError
    assert aio["err_dim"][0] is vecstore.DimensionMismatchError
    assert aio["err_dropped"] is vecstore.CollectionNotFoundError


def test_large_batches_are_split_like_the_sync_client(small):
    address, client, batches = small
    rng = np.random.default_rng(3)
    n, dim = 2000, 64  # 512 KiB of vectors: 4x the limit
    x = rng.standard_normal((n, dim)).astype(np.float32)
    ids = rng.permutation(10 * n)[:n]
    queries = rng.standard_normal((1200, dim)).astype(np.float32)
    payloads = [{"i": i} for i in range(n)]

    sync_col = client.create_collection("sync", dim=dim, quantization="none")
    sync_col.upsert(ids, x, payloads)
    sync_batches = list(batches)
    expected_get = sync_col.get(ids[::-1])
    expected_search = sync_col.search(queries, k=5)
    expected_scroll = sync_col.scroll(10_000, with_vectors=True)

    async def run():
        async with vecstore.connect_async(address, max_message_bytes=LIMIT) as db:
            col = await db.create_collection("async", dim=dim, quantization="none")
            batches.clear()
            assert await col.upsert(ids, x, payloads) == n
            assert batches == sync_batches and len(batches) > 4  # the same parts
            got = await col.get(ids[::-1])
            hits = await col.search(queries, k=5)
            page = await col.scroll(10_000, with_vectors=True)
            deleted = await col.delete(np.concatenate([ids[:500], np.arange(10**9, 10**9 + 30_000)]))
            return got, hits, page, deleted, await col.count()

    got, hits, page, deleted, count = asyncio.run(run())
    assert_same(expected_get, got, "get")
    assert_same(expected_search, hits, "search")
    assert_same(expected_scroll, page, "scroll")
    assert (deleted, count) == (500, n - 500)


def test_import_stream_and_its_errors(tmp_path):
    x = np.random.default_rng(4).standard_normal((300, 8)).astype(np.float32)

    async def run(address):
        async with vecstore.connect_async(address) as db:
            col = await db.create_collection("docs", dim=8, quantization="none")
            plain = [(np.arange(i, i + 100), x[i : i + 100]) for i in (0, 100)]
            assert await col.import_batches(plain) == 200

            async def produced():  # an async source of batches
                yield np.arange(200, 250), x[200:250], [{"n": i} for i in range(50)]
                await asyncio.sleep(0)
                yield np.arange(250, 300), x[250:300]

            assert await col.import_batches(produced()) == 100
            assert await col.count() == 300
            assert (await col.get([201], with_vectors=False)).payloads == [{"n": 1}]

            def bad():
                yield np.arange(1000, 1010), x[:10]
                yield np.arange(1010, 1020), x[:10, :7]  # wrong dim: the client's own check

            with pytest.raises(vecstore.DimensionMismatchError):
                await col.import_batches(bad())

            async def not_batches():
                yield "nope"

            with pytest.raises(vecstore.InvalidArgumentError, match="each batch must be"):
                await col.import_batches(not_batches())
            return (await col.get(np.arange(300), with_vectors=True)).vectors

    with serving(tmp_path / "db") as address:
        vectors = asyncio.run(run(address))
        assert vectors.tobytes() == x.tobytes()

        async def source():
            yield np.arange(2), x[:2]

        with vecstore.connect(address) as client, pytest.raises(vecstore.InvalidArgumentError, match="async client"):
            client.get_collection("docs").import_batches(source())


def test_concurrent_calls_on_one_client(tmp_path):
    data = clustered(500, 16, nq=30, seed=8)

    async def run(address):
        async with vecstore.connect_async(address) as db:
            col = await db.create_collection("docs", dim=16, quantization="none")
            await asyncio.gather(*(col.upsert(data.ids[i : i + 50], data.xb[i : i + 50]) for i in range(0, 500, 50)))
            each = await asyncio.gather(*(col.search(q, k=5) for q in data.xq))
            return each, await col.search(data.xq, k=5)

    with serving(tmp_path / "db") as address:
        each, whole = asyncio.run(run(address))
    np.testing.assert_array_equal(np.vstack([r.ids for r in each]), whole.ids)
    np.testing.assert_allclose(np.vstack([r.scores for r in each]), whole.scores, rtol=1e-6)


def test_deadlines_default_and_per_call():
    """A peer that accepts the connection and never answers: only the deadline ends a call."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = "127.0.0.1:%d" % silent.getsockname()[1]

        async def run():
            async with vecstore.connect_async(address, timeout=0.3) as db:
                with pytest.raises(vecstore.DeadlineExceededError, match=address):
                    await db.list_collections()
                with pytest.raises(vecstore.DeadlineExceededError):
                    await db.get_collection("docs", timeout=0.2)

        asyncio.run(run())
        with vecstore.connect(address, timeout=0.3) as client, pytest.raises(vecstore.DeadlineExceededError):
            client.list_collections()


def test_options_api_key_tls_and_close(tmp_path):
    from test_grpc_tls import self_signed

    tls = self_signed()

    async def run(address):
        async with vecstore.connect_async(address, api_key="k", root_certificates=tls.cert_chain) as db:
            col = await db.create_collection("docs", dim=4, quantization="none")
            await col.upsert([7], np.ones((1, 4)))
            assert (await col.get([7])).vectors.tolist() == [[1.0] * 4]
        assert db.closed
        with pytest.raises(vecstore.DatabaseClosedError):
            await db.list_collections()
        await db.close()  # idempotent
        async with vecstore.connect_async(address, api_key="wrong", tls=True, root_certificates=tls.cert_chain) as bad:
            with pytest.raises(vecstore.UnauthenticatedError):
                await bad.list_collections()
        async with vecstore.connect_async(address, api_key="k", root_certificates=tls.cert_chain, timeout=30) as db:
            assert db.timeout == 30
            return await (await db.get_collection("docs")).count()

    with serving(tmp_path / "db", tls=tls, api_keys=["k"]) as address:
        assert asyncio.run(run(address)) == 1
