"""The server's warm-up exercises every quantization kind without failing."""
import logging

from vecstore import warmup


def test_warm_up_covers_every_kind_without_warnings(caplog, monkeypatch):
    created = []
    real = warmup.open_db

    def recording_open(path, **options):
        db = real(path, **options)
        original = db.create_collection
        db.create_collection = lambda name, **kw: created.append(kw["quantization"]) or original(name, **kw)
        return db

    monkeypatch.setattr(warmup, "open_db", recording_open)
    with caplog.at_level(logging.WARNING, logger="vecstore.warmup"):
        assert warmup.warm_up() > 0
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    kinds = {q.kind for q in created}
    assert kinds == set(warmup.QUANTIZATION_KINDS)
