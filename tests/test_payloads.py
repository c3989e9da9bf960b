"""Payload edits that leave vectors alone, and payload indexes: declared,
maintained through every write, persisted, rebuilt on open."""
import random

import numpy as np
import pytest

import vecstore
from vecstore.cli import main as cli_main

from filter_reference import random_filter, random_payload, reference_match

INDEXES = {"i": "integer", "f": "float", "s": "keyword", "n.a": "integer", "people.name": "keyword"}


def make(db, rng, n=20, payloads=None):
    col = db.create_collection("docs", dim=6, quantization=vecstore.BinaryQuantization(train_size=8))
    x = rng.standard_normal((n, 6)).astype(np.float32)
    col.upsert(np.arange(n), x, payloads or [{"i": i, "tag": "a", "nested": {"x": 1, "y": 2}} for i in range(n)])
    return col, x


def test_set_overwrite_and_delete_keys(db, rng):
    col, x = make(db, rng)
    assert col.set_payload([1, 2, 999], {"tag": "b", "extra": [1, 2]}) == 2  # unknown ids ignored
    assert col.get([1]).payloads == [{"i": 1, "tag": "b", "nested": {"x": 1, "y": 2}, "extra": [1, 2]}]
    assert col.overwrite_payload([2], {"only": True}) == 1
    assert col.get([2]).payloads == [{"only": True}]
    assert col.delete_payload_keys([1, 3], ["tag", "nested.x", "not.there"]) == 2
    assert col.get([1, 3]).payloads == [{"i": 1, "nested": {"y": 2}, "extra": [1, 2]}, {"i": 3, "nested": {"y": 2}}]
    assert col.overwrite_payload([3], None) == 1
    assert col.get([3]).payloads == [None]
    assert col.set_payload([3], {"back": 1}) == 1  # set on a point without payload
    assert col.get([3]).payloads == [{"back": 1}]
    assert col.get(np.arange(20)).vectors.tobytes() == x.tobytes()  # vectors untouched
    assert col.count() == 20


BAD_EDITS = [
    ("set not a dict", lambda c: c.set_payload([1], ["x"]), vecstore.InvalidPayloadError, "dict"),
    ("set not json", lambda c: c.set_payload([1], {"x": object()}), vecstore.InvalidPayloadError, "JSON"),
    ("set nan", lambda c: c.set_payload([1], {"x": float("nan")}), vecstore.InvalidPayloadError, "JSON"),
    ("merged too big", lambda c: c.set_payload([0, 1], {"big": "x" * (1 << 20)}), vecstore.InvalidPayloadError, "limit"),
    ("overwrite list", lambda c: c.overwrite_payload([1], [1]), vecstore.InvalidPayloadError, "dict"),
    ("keys a string", lambda c: c.delete_payload_keys([1], "tag"), vecstore.InvalidPayloadError, "list of key names"),
    ("keys empty part", lambda c: c.delete_payload_keys([1], ["a..b"]), vecstore.InvalidPayloadError, "empty part"),
    ("bad ids", lambda c: c.set_payload([-1], {"a": 1}), vecstore.InvalidIdError, "negative"),
]


@pytest.mark.parametrize("case,call,exc,message", BAD_EDITS, ids=[c[0] for c in BAD_EDITS])
def test_bad_edits_write_nothing(db, rng, case, call, exc, message):
    col, _ = make(db, rng)
    col.create_payload_index("tag", "keyword")
    before = col.get(np.arange(20)).payloads
    with pytest.raises(exc, match=message):
        call(col)
    assert col.get(np.arange(20)).payloads == before
    assert col.count(filter={"tag": "a"}) == 20


def test_index_declarations(db, rng):
    col, _ = make(db, rng)
    col.create_payload_index("i", "integer")
    col.create_payload_index("nested.x", "float")
    col.create_payload_index("i", "integer")  # the same again: nothing to do
    assert col.payload_indexes() == {"i": "integer", "nested.x": "float"}
    col.create_payload_index("i", "keyword")  # another kind replaces it
    assert col.payload_indexes() == {"i": "keyword", "nested.x": "float"}
    assert col.count(filter={"i": {"$gte": 10}}) == 10  # still exact: numbers go to the slow part
    assert col.drop_payload_index("i") is True
    assert col.drop_payload_index("i") is False
    info = col.info()
    assert info.extra["payload_indexes"] == {"nested.x": "float"}
    assert info.extra["payload_index_ram_bytes"] > 0
    with pytest.raises(vecstore.InvalidConfigError, match="unknown payload index kind 'text'"):
        col.create_payload_index("tag", "text")
    with pytest.raises(vecstore.InvalidConfigError, match="empty part"):
        col.create_payload_index("a.", "keyword")


def check_against_reference(col, payload_of, filters):
    for flt in filters:
        want = sorted(i for i, p in payload_of.items() if reference_match(p, flt))
        assert col.scroll(10_000, filter=flt, with_payloads=False).points.ids.tolist() == want, flt
        assert col.count(filter=flt) == len(want), flt


def test_indexes_stay_exact_through_writes_and_reopen(tmp_path):
    r = random.Random(5)
    rng = np.random.default_rng(5)
    filters = [random_filter(r) for _ in range(80)]
    payload_of = {}
    with vecstore.open(tmp_path / "db") as db:
        col = db.create_collection("docs", dim=4, quantization=vecstore.BinaryQuantization(train_size=50))
        ids = np.arange(300)
        batch = [random_payload(r) for _ in ids]
        col.upsert(ids, rng.standard_normal((300, 4)), batch)
        payload_of.update(zip(ids.tolist(), batch))
        for key, kind in INDEXES.items():
            col.create_payload_index(key, kind)
        check_against_reference(col, payload_of, filters)
        for step in range(12):
            op = step % 5
            chosen = r.sample(sorted(payload_of), 25)
            if op == 0:  # replace whole points, reusing freed slots too
                new_ids = chosen[:15] + [1000 + 100 * step + j for j in range(10)]
                batch = [random_payload(r) for _ in new_ids]
                col.upsert(new_ids, rng.standard_normal((len(new_ids), 4)), batch)
                payload_of.update(zip(new_ids, batch))
            elif op == 1:
                col.delete(chosen)
                for i in chosen:
                    del payload_of[i]
            elif op == 2:
                extra = random_payload(r) or {"i": 3}
                col.set_payload(chosen, extra)
                for i in chosen:
                    payload_of[i] = {**(payload_of[i] or {}), **extra}
            elif op == 3:
                new = random_payload(r)
                col.overwrite_payload(chosen, new)
                for i in chosen:
                    payload_of[i] = new
            else:
                col.delete_payload_keys(chosen, ["i", "n.a"])
                for i in chosen:
                    p = payload_of[i]
                    if p is not None:
                        p = {k: v for k, v in p.items() if k != "i"}
                        if isinstance(p.get("n"), dict):
                            p["n"] = {k: v for k, v in p["n"].items() if k != "a"}
                        payload_of[i] = p
            check_against_reference(col, payload_of, filters[:20])
        check_against_reference(col, payload_of, filters)
    with vecstore.open(tmp_path / "db") as db:
        col = db.get_collection("docs")
        assert col.payload_indexes() == INDEXES
        check_against_reference(col, payload_of, filters)
        col.drop_payload_index("s")
    with vecstore.open(tmp_path / "db") as db:
        col = db.get_collection("docs")
        assert "s" not in col.payload_indexes()
        check_against_reference(col, payload_of, filters[:20])


@pytest.fixture
def embedded(tmp_path):
    """The engine itself, for tests that look inside it (no gRPC variant)."""
    with vecstore.open(tmp_path / "embedded") as database:
        yield database


def test_indexed_filters_do_not_read_payloads(embedded, rng, monkeypatch):
    col, _ = make(embedded, rng)
    col.create_payload_index("i", "integer")

    def no_reads(ids):
        raise AssertionError("an indexed filter read payloads from LMDB")

    monkeypatch.setattr(col._payloads, "_iter_payloads", no_reads)
    assert col.count(filter={"$or": [{"i": {"$lt": 3}}, {"i": {"$gte": 18}}]}) == 5
    assert col.search(np.ones(6), k=3, filter={"i": {"$ne": 4}}).ids.min() >= 0
    with pytest.raises(AssertionError, match="read payloads"):
        col.count(filter={"tag": "a"})  # unindexed: read from LMDB


def test_cli_info_lists_payload_indexes(tmp_path, rng, capsys):
    with vecstore.open(tmp_path / "db") as db:
        col, _ = make(db, rng)
        col.create_payload_index("tag", "keyword")
    assert cli_main(["info", "--data-dir", str(tmp_path / "db")]) == 0
    out = capsys.readouterr().out
    assert "payload_indexes={'tag': 'keyword'}" in out


def test_deleted_points_leave_the_indexes(db, rng):
    col, _ = make(db, rng, n=10)
    col.create_payload_index("word", "keyword")
    col.create_payload_index("num", "integer")
    empty = col.info().extra["payload_index_ram_bytes"]
    ids = np.arange(100, 400)
    payloads = [{"word": f"w{i}", "num": [int(i), i + 0.5]} for i in ids]  # new words, lists in `extra`
    col.upsert(ids, rng.standard_normal((300, 6)), payloads)
    assert col.info().extra["payload_index_ram_bytes"] > empty + 300 * 100
    col.delete(ids)
    assert col.info().extra["payload_index_ram_bytes"] <= empty + 400 * 16  # only the columns remain
    assert col.count(filter={"word": {"$gte": "w"}}) == 0
