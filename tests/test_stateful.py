"""A hypothesis state machine against a brute-force model, for every
quantization kind: upsert, delete, search, get, count, close and reopen."""
import dataclasses
import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import vecstore
from vecstore.config import QUANTIZATION_KINDS

DIM = 12
ID_POOL = st.integers(min_value=0, max_value=60)
BIG_OVERSAMPLING = 1000.0  # the bound; k >= 1 candidates x 1000 cover the 61-id pool: rerank is then exact


def small_config(kind):
    """The kind's defaults, with training after a handful of vectors so that
    the state machine crosses from exact to coded search."""
    cls = QUANTIZATION_KINDS[kind]
    names = {f.name for f in dataclasses.fields(cls)}
    params = {"train_size": 8} if "train_size" in names else {}
    return cls(**params)


def vectors(n):
    return st.lists(
        st.lists(st.floats(-10, 10, allow_nan=False, width=32), min_size=DIM, max_size=DIM).filter(
            lambda v: np.linalg.norm(v) > 1e-3
        ),
        min_size=n,
        max_size=n,
    )


class CollectionMachine(RuleBasedStateMachine):
    kind = "binary"
    metric = "cosine"

    @initialize()
    def open_db(self):
        self.dir = tempfile.mkdtemp(prefix="vecstore-stateful-")
        self.db = vecstore.open(self.dir)
        self.col = self.db.create_collection("c", dim=DIM, metric=self.metric, quantization=small_config(self.kind))
        self.model: dict[int, np.ndarray] = {}

    def teardown(self):
        if hasattr(self, "db"):
            self.db.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    @rule(data=st.data(), n=st.integers(1, 6))
    def upsert(self, data, n):
        ids = data.draw(st.lists(ID_POOL, min_size=n, max_size=n, unique=True))
        vecs = np.array(data.draw(vectors(n)), dtype=np.float32)
        self.col.upsert(ids, vecs)
        for i, v in zip(ids, vecs):
            self.model[i] = v

    @rule(ids=st.lists(ID_POOL, max_size=5))
    def delete(self, ids):
        expected = len(set(ids) & set(self.model))
        assert self.col.delete(ids) == expected
        for i in ids:
            self.model.pop(i, None)

    @rule()
    def reopen(self):
        self.db.close()
        self.db = vecstore.open(self.dir)
        self.col = self.db.get_collection("c")

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data(), k=st.integers(1, 8))
    def search_matches_brute_force(self, data, k):
        q = np.array(data.draw(vectors(1)), dtype=np.float32)
        res = self.col.search(q, k=k, oversampling=BIG_OVERSAMPLING)
        ids = np.array(sorted(self.model))
        xb = np.stack([self.model[i] for i in ids])
        qn = q[0] / np.linalg.norm(q[0])
        scores = (xb / np.linalg.norm(xb, axis=1, keepdims=True)) @ qn
        order = np.lexsort((ids, -scores))[:k]
        got = res.ids[0]
        want = ids[order]
        assert (got[len(want):] == -1).all()
        got_scores = res.scores[0, : len(want)]
        np.testing.assert_allclose(got_scores, scores[order], atol=1e-5)
        # ids agree except where two scores tie within float error
        for g, w, s in zip(got, want, scores[order]):
            if g != w:
                assert abs(scores[ids == g][0] - s) < 1e-5

    @precondition(lambda self: len(self.model) > 0)
    @rule()
    def every_point_finds_itself(self):
        ids = np.array(sorted(self.model))
        res = self.col.search(np.stack([self.model[i] for i in ids]), k=1, oversampling=BIG_OVERSAMPLING)
        found = res.ids[:, 0]
        # a duplicate vector may legitimately win the tie
        for i, f in zip(ids, found):
            assert f == i or np.allclose(self.model[f] / np.linalg.norm(self.model[f]), self.model[i] / np.linalg.norm(self.model[i]), atol=1e-6)

    @invariant()
    def count_and_get_agree(self):
        if not hasattr(self, "col"):
            return
        assert self.col.count() == len(self.model)
        pool = np.arange(61)
        got = self.col.get(pool)
        assert sorted(got.ids.tolist()) == sorted(self.model)
        for i, v in zip(got.ids, got.vectors):
            assert v.tobytes() == self.model[int(i)].tobytes()


@pytest.mark.parametrize("kind", sorted(QUANTIZATION_KINDS))
def test_state_machine(kind):
    machine = type(f"Machine_{kind}", (CollectionMachine,), {"kind": kind})
    run = settings(
        max_examples=15,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )(machine).TestCase
    run().runTest()
