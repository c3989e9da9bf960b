"""The server's warm-up exercises every quantization kind without failing."""
import logging

from vecstore import warmup


def test_warm_up_covers_every_kind_without_warnings(caplog, monkeypatch):
    created = []
    real = warmup.open_db

    def recording_open(path, **options):
        db = real(path, **options)
        original = db.create_collection
        db.create_collection = lambda name, **kw: created.append(kw) or original(name, **kw)
        return db

    monkeypatch.setattr(warmup, "open_db", recording_open)
    with caplog.at_level(logging.WARNING, logger="vecstore.warmup"):
        assert warmup.warm_up() > 0
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    kinds = {kw["quantization"].kind for kw in created}
    assert kinds == set(warmup.QUANTIZATION_KINDS)


def test_warm_up_variants_reach_the_other_kernels():
    """Variants are valid configs and cover the settings whose kernels differ."""
    configs = warmup._configs()
    assert len(configs) == len(warmup.QUANTIZATION_KINDS) + len(warmup._VARIANTS)  # none rejected
    seen = {(q.kind, k, getattr(q, k)) for q, _ in configs for k in ("mode", "nbits", "scoring", "user_codes", "weighted")
            if hasattr(q, k)}
    assert {("residual_binary", "mode", "sdc"), ("pq", "mode", "sdc"), ("pq", "nbits", 4), ("binary", "scoring", "hamming"),
            ("sparse", "user_codes", True), ("sparse", "weighted", True)} <= seen
    assert {q.kind for q, options in configs if "ivf" in options} >= {"binary", "sparse"}
    assert any(options.get("vector_dtype") == "float16" for _, options in configs)
    # every generated-code kind trains on the warm-up's data
    assert all(getattr(q, "train_size", 0) <= warmup._N for q, _ in configs if not getattr(q, "user_codes", False))
