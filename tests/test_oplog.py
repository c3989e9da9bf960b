"""One debug line per public collection call, nested calls logged once (engine only)."""
import logging

import numpy as np
import pytest

import vecstore


def test_one_debug_line_per_call(engine_db, caplog):
    col = engine_db.create_collection("docs", dim=3, quantization="none")
    with caplog.at_level(logging.DEBUG, logger="vecstore.requests"):
        col.upsert([1, 2], np.ones((2, 3)), [{"a": 1}, {"a": 2}])
        col.search(np.ones(3), k=1, filter={"a": 2})
        col.scroll(10)  # reads its points through get: still one line
        with pytest.raises(vecstore.InvalidFilterError):
            col.count(filter={"a": {"$bad": 1}})
    records = [r for r in caplog.records if r.name == "vecstore.requests"]
    assert [r.vecstore["op"] for r in records] == ["upsert", "search", "scroll", "count"]
    assert [r.vecstore["status"] for r in records] == ["OK", "OK", "OK", "INVALID_ARGUMENT"]
    assert records[1].vecstore["filtered"] and not records[2].vecstore["filtered"]
    assert records[1].getMessage().startswith("op=search collection=docs status=OK ms=")
    assert all(r.levelno == logging.DEBUG for r in records)


def test_silent_unless_debug(engine_db, caplog):
    col = engine_db.create_collection("docs", dim=3, quantization="none")
    with caplog.at_level(logging.INFO, logger="vecstore.requests"):
        col.upsert([1], np.ones((1, 3)))
    assert not [r for r in caplog.records if r.name == "vecstore.requests"]
