"""native.leaf_pages: the leaf page of each key, found from the branch pages,
checked against where LMDB itself hands out the values, and against the
plain-Python reference."""
import os
import struct
import sys

import lmdb
import numpy as np
import pytest

try:
    import native  # noqa: F401
except ImportError:  # plain source checkout without an install
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from native.lmdb_pages import leaf_pages
from native.reference_lmdb import leaf_pages_ref


def keys_of(ids):
    return [struct.pack(">Q", int(i)) for i in ids]


def key_array(keys):
    return np.frombuffer(b"".join(keys), np.uint8).reshape(len(keys), -1)


def lmdb_page_of(addr, path, psize):
    """The file page a pointer into LMDB's map falls on (/proc/self/maps)."""
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[5] == path:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                if lo <= addr < hi:
                    return (addr - lo + int(parts[2], 16)) // psize
    raise AssertionError("address outside every mapping of the file")


def truth(env, txn, db, keys):
    path = os.path.realpath(os.path.join(env.path(), "data.mdb"))
    psize = env.stat()["psize"]
    out = []
    for k in keys:
        v = txn.get(k, db=db)
        out.append(lmdb_page_of(np.frombuffer(v, np.uint8).ctypes.data, path, psize))
    return np.array(out)


def view(env):
    path = os.path.join(env.path(), "data.mdb")
    return np.fromfile(path, dtype=np.uint8)


@pytest.fixture
def env(tmp_path):
    e = lmdb.open(str(tmp_path / "db"), map_size=1 << 28, max_dbs=8, readahead=False)
    yield e
    e.close()


def fill(env, name, ids, value_bytes, seed=0):
    db = env.open_db(name)
    rng = np.random.default_rng(seed)
    with env.begin(write=True) as txn:
        for i in rng.permutation(ids):  # random order: pages split as they do in use
            txn.put(struct.pack(">Q", int(i)), rng.bytes(value_bytes), db=db)
    return db


@pytest.mark.parametrize("n, value_bytes, depth", [(1, 16, 1), (40, 64, 1), (400, 64, 2), (60_000, 24, 3)])
def test_pages_match_where_lmdb_reads_the_values(env, n, value_bytes, depth):
    fill(env, b"other", np.arange(0, 3 * n, 3), value_bytes, seed=1)  # pages of two trees interleave
    db = fill(env, b"c1.vectors", np.arange(0, 2 * n, 2), value_bytes)
    psize = env.stat()["psize"]
    rng = np.random.default_rng(5)
    present = keys_of(np.sort(rng.choice(np.arange(0, 2 * n, 2), min(n, 500), replace=False)))
    with env.begin(buffers=True) as txn:
        assert txn.stat(db)["depth"] == depth  # the case is the tree it says it is
        buf = view(env)
        got = leaf_pages(buf, psize, txn.id(), b"c1.vectors", key_array(present))
        np.testing.assert_array_equal(got, truth(env, txn, db, present))
        # absent keys: the leaf they would go on, as the reference walks it too
        probe = keys_of([0, 1, 2 * n - 1, 2 * n + 5, 10**12]) + present[:50]
        np.testing.assert_array_equal(leaf_pages(buf, psize, txn.id(), b"c1.vectors", key_array(probe)),
                                      leaf_pages_ref(buf, psize, txn.id(), b"c1.vectors", key_array(probe)))


def test_each_snapshot_walks_its_own_tree(env):
    db = fill(env, b"c1.vectors", np.arange(3000), 64)
    psize = env.stat()["psize"]
    keys = keys_of(np.arange(0, 3000, 7))
    old = env.begin(buffers=True)
    old_truth = truth(env, old, db, keys)
    fill(env, b"c1.vectors", np.arange(0, 3000, 5), 64, seed=9)  # rewrites: copy-on-write moves leaves
    with env.begin(buffers=True) as new:
        buf = view(env)
        new_pages = leaf_pages(buf, psize, new.id(), b"c1.vectors", key_array(keys))
        np.testing.assert_array_equal(new_pages, truth(env, new, db, keys))
        np.testing.assert_array_equal(leaf_pages(buf, psize, old.id(), b"c1.vectors", key_array(keys)), old_truth)
        assert (new_pages != old_truth).any()
    old.abort()


def test_unknown_tree_or_snapshot_finds_nothing(env):
    fill(env, b"c1.vectors", np.arange(500), 64)
    psize = env.stat()["psize"]
    keys = key_array(keys_of([1, 2, 3]))
    with env.begin() as txn:
        buf = view(env)
        assert (leaf_pages(buf, psize, txn.id(), b"c1.nothing", keys) == -1).all()
        assert (leaf_pages(buf, psize, txn.id() + 7, b"c1.vectors", keys) == -1).all()
        assert (leaf_pages(buf[: 2 * psize], psize, txn.id(), b"c1.vectors", keys) == -1).all()  # pages past the view
        assert (leaf_pages(buf, 2 * psize, txn.id(), b"c1.vectors", keys) == -1).all()  # not the file's page size
    with env.begin(write=True) as txn:
        env.open_db(b"c1.empty", txn=txn)
    with env.begin() as txn:
        assert (leaf_pages(view(env), psize, txn.id(), b"c1.empty", keys) == -1).all()


def test_garbage_never_crashes_and_gives_no_page_or_a_real_one(env):
    fill(env, b"c1.vectors", np.arange(20_000), 40)
    psize = env.stat()["psize"]
    keys = key_array(keys_of(np.arange(0, 20_000, 37)))
    rng = np.random.default_rng(11)
    with env.begin() as txn:
        good = view(env)
        npages = len(good) // psize
        flags = good[: npages * psize].reshape(npages, psize)[:, 10]
        branches = np.flatnonzero(flags & 0x01)
        assert len(branches) >= 1
        outcomes = set()
        for buf in (np.zeros_like(good), rng.integers(0, 256, len(good), dtype=np.uint8)):
            assert (leaf_pages(buf, psize, txn.id(), b"c1.vectors", keys) == -1).all()
        for trial in range(200):
            bad = good.copy()
            at = rng.integers(0, len(bad), 64)
            bad[at] = rng.integers(0, 256, len(at), dtype=np.uint8)
            if trial % 2:  # aim at the first pages too: metas, main tree, roots
                bad[rng.integers(0, 3 * psize, 16)] = rng.integers(0, 256, 16, dtype=np.uint8)
            else:  # and at the branch pages the walk reads: node offsets, key sizes, child pages
                page = int(rng.choice(branches))
                bad[page * psize + rng.integers(0, 256, 8)] = rng.integers(0, 256, 8, dtype=np.uint8)
            got = leaf_pages(bad, psize, txn.id(), b"c1.vectors", keys)
            assert ((got == -1) | ((got >= 0) & (got < npages))).all()
            outcomes.add(((got == -1).all(), (got >= 0).all()))
        assert len(outcomes) >= 2  # the damage did reach the walk


def test_argument_checks():
    keys = np.zeros((1, 8), np.uint8)
    with pytest.raises(TypeError):
        leaf_pages(np.zeros(4096, np.int8), 4096, 1, b"x", keys)
    with pytest.raises(TypeError):
        leaf_pages(np.zeros(4096, np.uint8), 4096, 1, b"x", np.zeros(8, np.uint8))
    with pytest.raises(ValueError):
        leaf_pages(np.zeros(4096, np.uint8), 1000, 1, b"x", keys)
