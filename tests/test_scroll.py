"""Scroll: pages in id order with a cursor, optionally filtered."""
import numpy as np
import pytest

import vecstore


@pytest.fixture
def loaded(db, rng):
    """A collection of 700 sparse ids written out of order, and its vectors by id."""
    col = db.create_collection("docs", dim=5, quantization=vecstore.BinaryQuantization(train_size=16))
    ids = rng.permutation(5000)[:700]
    x = rng.standard_normal((700, 5)).astype(np.float32)
    col.upsert(ids, x, [{"even": bool(i % 2 == 0), "i": int(i)} if i % 5 else None for i in ids])
    return col, dict(zip(ids.tolist(), x))


def scroll_all(col, limit, **kwargs):
    pages, after = [], None
    while True:
        page = col.scroll(limit, after=after, **kwargs)
        assert len(page) <= limit
        pages.append(page)
        if page.next_cursor is None:
            return pages
        assert page.next_cursor == page.points.ids[-1]
        after = page.next_cursor


@pytest.mark.parametrize("limit", [1, 64, 700, 10_000])
def test_pages_cover_every_point_once_in_id_order(loaded, limit):
    col, stored = loaded
    pages = scroll_all(col, limit)
    ids = np.concatenate([p.points.ids for p in pages])
    assert ids.tolist() == sorted(stored)
    assert all(len(p) == limit for p in pages[:-1])
    assert len(pages) == -(-700 // limit)  # a full last page already says it is the last
    assert pages[0].points.vectors.shape == (len(pages[0]), 0)  # no vectors unless asked


@pytest.mark.parametrize("indexed", [False, True])
def test_filtered_pages(loaded, indexed):
    col, stored = loaded
    if indexed:
        col.create_payload_index("even", "keyword")  # bools are not keywords: found in the slow part
        col.create_payload_index("i", "integer")
    flt = {"even": True, "i": {"$gte": 1000}}
    want = sorted(i for i in stored if i % 2 == 0 and i % 5 and i >= 1000)
    for limit in (7, 1000):
        pages = scroll_all(col, limit, filter=flt)
        got = [p for page in pages for p in page.points.ids.tolist()]
        assert got == want
        for page in pages:
            assert all(p["even"] is True for p in page.points.payloads)
    none = {"i": {"$exists": False}}  # points without payload
    got = np.concatenate([p.points.ids for p in scroll_all(col, 50, filter=none)]).tolist()
    assert got == sorted(i for i in stored if i % 5 == 0)


def test_vectors_and_payloads_on_request(loaded):
    col, stored = loaded
    page = col.scroll(20, with_vectors=True, with_payloads=False)
    assert page.points.payloads == []
    for i, v in zip(page.points.ids, page.points.vectors):
        assert v.tobytes() == stored[int(i)].tobytes()
    page = col.scroll(20)
    assert [p if p is None else p["i"] for p in page.points.payloads] == [
        None if i % 5 == 0 else i for i in page.points.ids.tolist()
    ]


def test_cursor_survives_writes_between_pages(loaded):
    col, stored = loaded
    first = col.scroll(100)
    seen = first.points.ids.tolist()
    col.delete(first.points.ids[:50])  # already seen
    nxt = sorted(stored)[100:105]
    col.delete(nxt[:2])  # not yet seen: gone before we get there
    col.upsert([nxt[0]], np.ones((1, 5)), [{"back": True}])  # and one comes back
    rest = np.concatenate([p.points.ids for p in _scroll_from(col, first.next_cursor, 100)]).tolist()
    assert not set(seen) & set(rest)
    assert rest == sorted(set(stored) - set(seen) - {nxt[1]})


def _scroll_from(col, after, limit):
    while after is not None:
        page = col.scroll(limit, after=after)
        yield page
        after = page.next_cursor


def test_edges(loaded):
    col, stored = loaded
    last = max(stored)
    page = col.scroll(10, after=last)
    assert len(page) == 0 and page.next_cursor is None
    assert len(col.scroll(10, filter={"i": -1})) == 0
    for bad in (0, -1, 10_001, 2.5, True, "10"):
        with pytest.raises(vecstore.InvalidQueryError, match="limit"):
            col.scroll(bad)
    for bad in (-1, 2**63, 1.5, "3"):
        with pytest.raises(vecstore.InvalidQueryError, match="after"):
            col.scroll(10, after=bad)
