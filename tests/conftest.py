import numpy as np
import pytest

import vecstore

MODES = ["embedded", "grpc"]


@pytest.fixture(params=MODES)
def db(request, tmp_path):
    """A fresh database through each public surface: the embedded engine, and
    the gRPC client talking to an in-process server (port 0) over its own
    fresh data directory."""
    if request.param == "embedded":
        database = vecstore.open(tmp_path / "db")
        yield database
        database.close()
        return
    with serving(tmp_path / "served", snapshot_dir=str(tmp_path / "snapshots")) as address:
        client = vecstore.connect(address)
        yield client
        client.close()


@pytest.fixture
def engine_db(tmp_path):
    """Embedded only, for the tests that read or patch engine internals (the
    RAM segment, codec classes) which a gRPC client cannot see; the tests of
    the public API use the two-mode `db`."""
    database = vecstore.open(tmp_path / "engine-db")
    yield database
    database.close()


class serving:
    """Context manager: a gRPC server over a fresh database in `path`; yields
    its address. Options go to RpcServer (api_keys, tls, ...)."""

    def __init__(self, path, **options):
        self.path, self.options = path, options

    def __enter__(self) -> str:
        from vecstore.rpc.server import RpcServer

        self.database = vecstore.open(self.path)
        try:
            self.server = RpcServer(self.database, **self.options).start()
        except BaseException:
            self.database.close()
            raise
        self.server.set_serving()  # kernels are warm in the test process already
        return self.server.address

    def __exit__(self, *exc):
        clean = self.server.stop(grace=1)
        self.database.close()
        # every test's server must shut down with no call left running
        assert clean or exc[0] is not None, "RpcServer.stop() left calls running"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
