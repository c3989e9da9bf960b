import numpy as np
import pytest

import vecstore

MODES = ["embedded"]


@pytest.fixture(params=MODES)
def db(request, tmp_path):
    """A fresh database through each public surface (embedded; gRPC is added
    by the wire layer's tests)."""
    database = vecstore.open(tmp_path / "db")
    yield database
    database.close()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
