"""Config objects of the code kinds: validation, defaults, serialization."""
import dataclasses

import numpy as np
import pytest

import vecstore
from vecstore import ProductQuantization, ResidualBinaryQuantization, ScalarQuantization
from vecstore.config import QUANTIZATION_KINDS, quantization_from_dict
from vecstore.errors import InvalidConfigError

NON_DEFAULT = [
    ResidualBinaryQuantization(bits=3, mode="sdc", query_bits=6, oversampling=7.5, rescore=False, train_size=77),
    ProductQuantization(m=12, nbits=4, mode="sdc", oversampling=3, train_size=500),
    ProductQuantization(m=None, nbits=8),
    ScalarQuantization(oversampling=1.5, rescore=False, train_size=9),
    vecstore.BinaryQuantization(margin=1.5, query_bits=3, oversampling=8),
]


@pytest.mark.parametrize("config", NON_DEFAULT, ids=repr)
def test_to_dict_round_trips(config):
    data = config.to_dict()
    assert data["kind"] == config.kind
    assert quantization_from_dict(data) == config
    assert quantization_from_dict(dict(data)).to_dict() == data


def test_every_registered_kind_round_trips_with_defaults():
    assert {"residual_binary", "pq", "scalar"} <= set(QUANTIZATION_KINDS)
    for kind, cls in QUANTIZATION_KINDS.items():
        assert quantization_from_dict({"kind": kind}) == cls()
        assert quantization_from_dict(cls().to_dict()) == cls()


def test_classes_are_exported_frozen_and_keyword_only():
    for cls in (ResidualBinaryQuantization, ProductQuantization, ScalarQuantization):
        assert getattr(vecstore, cls.__name__) is cls
        with pytest.raises(dataclasses.FrozenInstanceError):
            cls().oversampling = 3
        with pytest.raises(TypeError):
            cls(2.0)  # positional
    with pytest.raises(TypeError):
        ProductQuantization(n_bits=4)  # misspelt


BAD = [
    ({"kind": "residual_binary", "bits": 1}, "bits must be an integer in \\[2, 4\\], got 1"),
    ({"kind": "residual_binary", "bits": 5}, "bits must be an integer in \\[2, 4\\]"),
    ({"kind": "residual_binary", "bits": 2.0}, "bits must be an integer"),
    ({"kind": "residual_binary", "bits": True}, "bits must be an integer"),
    ({"kind": "residual_binary", "mode": "symmetric"}, "mode must be one of \\['adc', 'sdc'\\], got 'symmetric'"),
    ({"kind": "residual_binary", "query_bits": 0}, "query_bits must be an integer in \\[1, 8\\]"),
    ({"kind": "residual_binary", "train_size": 0}, "train_size must be a positive integer"),
    ({"kind": "residual_binary", "oversampling": 0.5}, "oversampling"),
    ({"kind": "residual_binary", "level": 2}, "bad parameters for quantization 'residual_binary'"),
    ({"kind": "pq", "m": 0}, "m must be an integer in \\[1, 65536\\], got 0"),
    ({"kind": "pq", "m": "48"}, "m must be an integer"),
    ({"kind": "pq", "nbits": 6}, "nbits must be 4 or 8, got 6"),
    ({"kind": "pq", "nbits": 4.0}, "nbits must be 4 or 8"),
    ({"kind": "pq", "mode": "ADC"}, "mode must be one of"),
    ({"kind": "pq", "rescore": "yes"}, "rescore must be a bool"),
    ({"kind": "pq", "ks": 256}, "bad parameters for quantization 'pq'.*accepted"),
    ({"kind": "scalar", "train_size": -1}, "train_size must be a positive integer"),
    ({"kind": "binary", "margin": -0.5}, "margin must be a finite number >= 0"),
    ({"kind": "binary", "margin": float("inf")}, "margin must be a finite number >= 0"),
    ({"kind": "binary", "margin": True}, "margin must be a finite number >= 0"),
    ({"kind": "scalar", "bits": 4}, "bad parameters for quantization 'scalar'"),
]


@pytest.mark.parametrize("data,message", BAD, ids=[str(b[0]) for b in BAD])
def test_bad_parameters_fail_loudly_and_create_nothing(db, data, message):
    with pytest.raises(InvalidConfigError, match=message):
        quantization_from_dict(data)
    with pytest.raises(InvalidConfigError, match=message):
        db.create_collection("docs", dim=8, quantization=data)
    assert db.list_collections() == []


@pytest.mark.parametrize("kind", ["residual_binary", "pq", "scalar"])
def test_kind_names_give_defaults_and_persist(tmp_path, kind):
    with vecstore.open(tmp_path / "db") as db:
        col = db.create_collection("docs", dim=8, quantization=kind)
        assert col.config.quantization == QUANTIZATION_KINDS[kind]()
        col.upsert(np.arange(3), np.ones((3, 8)))  # below train_size: exact answers
        assert not col.info().trained
        assert col.search(np.ones(8), k=2).ids.shape == (1, 2)
    with vecstore.open(tmp_path / "db") as db:
        assert db.get_collection("docs").config.quantization == QUANTIZATION_KINDS[kind]()


def test_pq_dimension_not_divisible_by_m_is_padded(db, rng):
    col = db.create_collection("docs", dim=10, metric="l2", quantization=ProductQuantization(m=4, train_size=300))
    x = rng.standard_normal((400, 10)).astype(np.float32)
    col.upsert(np.arange(400), x)
    info = col.info()
    assert info.trained and info.extra["code_bytes"] == 4
    res = col.search(x[:5], k=1, oversampling=20)
    assert res.ids[:, 0].tolist() == list(range(5))
