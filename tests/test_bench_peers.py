"""Issue 19's bench plumbing: the DiskANN / SVS / milvus-lite peers end to end
on tiny data (each skipped, with the harness's own reason, where it cannot run:
the CI test extra installs none of them), and bench.synth_clustered's vectors
and exact ground truth."""
import numpy as np
import pytest

from bench import peers_scale, synth_clustered
from bench.measure import recall_at_k, thread_limit
from bench.peers import all_peers


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = rng.standard_normal((16, 32)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    gt = np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :10]
    return x, q, gt


def _runnable(name):
    system = next(s for s in peers_scale.scale_peers(2000, 32) if s.name == name)
    why = system.missing()
    if why:
        pytest.skip(f"{name}: {why}")
    return system


PEERS = [s.name for s in peers_scale.scale_peers(2000, 32)
         if not (s.name.startswith("milvus-lite") and s.name.split()[-1] in ("IVF_PQ", "DISKANN"))]


@pytest.mark.parametrize("name", PEERS)
def test_peer_runs_end_to_end(name, tiny, tmp_path):
    x, q, gt = tiny
    system = _runnable(name)
    try:
        with thread_limit(1):
            system.build(x, str(tmp_path))
        sweep = system.sweep()
        widest = sweep[-1]
        batch = system.search(q, 10, widest, 1)
        single = np.vstack([system.search(q[i : i + 1], 10, widest, 1) for i in range(len(q))])
        assert batch.shape == single.shape == (len(q), 10) and batch.dtype == np.int64
        assert ((batch >= -1) & (batch < len(x))).all()
        assert np.array_equal(batch, single)  # one query per call finds what the batch finds
        assert recall_at_k(batch, gt, 10) >= 0.9  # the widest point of the sweep, on 2,000 vectors
        assert system.ram_bytes() > 0
        engine = getattr(system, "engine", None)  # milvus-lite: the index asked for serves every row
        if engine is not None:
            assert engine["segments"] >= 1 and engine["unindexed_segments"] == 0 and engine["memtable_rows"] == 0
            assert len(engine["index_classes"]) == 1 and "BruteForce" not in engine["index_classes"][0]
            assert system.ram_bytes() > x.nbytes  # its segments keep the float32 vectors, and more
    finally:
        system.close()
    assert list(tmp_path.iterdir()) == []  # its files are removed


def test_diskann_ram_limit_gives_the_asked_pq_bytes():
    # DiskANN takes floor(limit / n) chunks, less 0.25 GB above 1.25 GB
    for n in (1000, 100_000, 1_000_000, 10_000_000, 30_000_000):
        for pq in (32, 48, 64):
            gb = peers_scale.diskann_ram_limit_gb(pq, n)
            usable = gb - 0.25 if gb - 0.25 > 1.0 else gb
            assert int(usable * 2**30 // n) == pq, (n, pq)


def test_diskann_pq_bytes_follow_the_option():
    old = peers_scale.DISKANN_PQ_BYTES
    try:
        peers_scale.DISKANN_PQ_BYTES = 48
        names = [s.name for s in all_peers(1000, 32)]
    finally:
        peers_scale.DISKANN_PQ_BYTES = old
    assert "DiskANN PQ48 R64" in names


def test_milvus_lite_index_types_it_lacks_are_reported():
    pytest.importorskip("milvus_lite", reason="milvus-lite is a bench extra, not in the test extra")
    peers = {s.name: s for s in peers_scale.scale_peers(2000, 32)}
    assert peers["milvus-lite IVF_FLAT"].missing() is None
    assert "no DISKANN index" in peers["milvus-lite DISKANN"].missing()


def test_exact_top_k_matches_numpy_over_chunks(tmp_path):
    rng = np.random.default_rng(1)
    base = rng.standard_normal((5000, 16)).astype(np.float16)
    xq = rng.standard_normal((20, 16)).astype(np.float32)
    got = synth_clustered.exact_top_k(base, xq, 50, chunk=700)  # 8 chunks, the last one short
    scores = xq @ base.astype(np.float32).T
    for q in range(len(xq)):
        want = np.argsort(-scores[q], kind="stable")[:50]
        assert np.allclose(scores[q, got[q]], scores[q, want], atol=1e-4)  # the same top-50 scores, in order
        assert len(set(got[q]) & set(want)) >= 49  # ids equal up to a tie at the cut-off


def test_exact_top_k_resumes_from_saved_state(tmp_path):
    rng = np.random.default_rng(2)
    base = rng.standard_normal((3000, 8)).astype(np.float32)
    xq = rng.standard_normal((5, 8)).astype(np.float32)
    full = synth_clustered.exact_top_k(base, xq, 20, chunk=1000)
    synth_clustered.exact_top_k(base[:2000], xq, 20, chunk=1000, out=str(tmp_path))  # a run cut short...
    state = np.load(tmp_path / synth_clustered.GT_PARTIAL)
    np.savez(tmp_path / synth_clustered.GT_PARTIAL, scores=state["scores"], ids=state["ids"], next=2000,
             n=3000, chunk=1000)  # ...as it looks to the full-size run that resumes it
    resumed = synth_clustered.exact_top_k(base, xq, 20, chunk=1000, out=str(tmp_path))
    assert np.array_equal(resumed, full)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    src = root / "source"  # a stand-in real set, so the k-means fit path runs without pypi-minilm
    from bench.datasets import make_synthetic_folder

    make_synthetic_folder(str(src), n=3000, dim=32, nq=10)
    kw = dict(n=20_000, nq=50, seed=7, clusters=32, quiet=True)
    a = synth_clustered.generate(str(root / "a"), source=str(src), **kw)
    b = synth_clustered.generate(str(root / "b"), source=str(src), **kw)
    c = synth_clustered.generate(str(root / "c"), source=None, fbin=True, dim=32, **kw)
    return a, b, c


def _folder(path):
    from bench.datasets import BASE, GT, QUERIES

    return tuple(np.load(f"{path}/{f}") for f in (BASE, QUERIES, GT))


def test_generator_ground_truth_is_exact(generated):
    xb, xq, gt = _folder(generated[0])
    assert xb.shape == (20_000, 32) and xb.dtype == np.float16 and gt.shape == (50, 100)
    assert np.allclose(np.linalg.norm(xb.astype(np.float32), axis=1), 1, atol=2e-3)  # unit (cosine) vectors
    scores = xq.astype(np.float32) @ xb.astype(np.float32).T
    for q in range(len(xq)):
        want = np.argsort(-scores[q], kind="stable")[:100]
        assert np.allclose(scores[q, gt[q]], scores[q, want], atol=1e-4)
        assert len(set(gt[q]) & set(want)) >= 99


def test_generator_is_deterministic_for_a_seed(generated):
    a, b, c = (_folder(p) for p in generated)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    assert not np.array_equal(a[0], c[0])  # another model (synthetic centroids): other vectors


def test_generator_chunks_are_independent_and_fbin_matches(generated):
    """Any chunk can be regenerated alone (what resuming relies on), and
    base.fbin holds the float16 values as float32 behind DiskANN's header."""
    path = generated[2]
    model = dict(np.load(f"{path}/{synth_clustered.MODEL}"))
    xb = np.load(f"{path}/base.f16.npy")
    assert np.array_equal(synth_clustered.chunk_rows(model, 7, 0, 20_000), xb[: synth_clustered.CHUNK])
    raw = np.fromfile(f"{path}/{synth_clustered.FBIN}", dtype=np.int32, count=2)
    assert list(raw) == [20_000, 32]
    f32 = np.memmap(f"{path}/{synth_clustered.FBIN}", dtype=np.float32, mode="r", offset=8, shape=(20_000, 32))
    assert np.array_equal(f32, xb.astype(np.float32))


def test_generator_resumes_a_killed_base_write(tmp_path):
    kw = dict(n=3 * synth_clustered.CHUNK // 2, nq=5, seed=3, clusters=8, source=None, quiet=True)
    whole = synth_clustered.generate(str(tmp_path / "whole"), **kw)
    out = tmp_path / "cut"
    out.mkdir()
    model = synth_clustered.load_or_fit(str(out), None, clusters=8, dim=384, seed=3)
    synth_clustered.write_base(str(out), model, n=kw["n"], seed=3, fbin=False, quiet=True)
    base = np.load(out / "base.f16.npy", mmap_mode="r+")
    base[synth_clustered.CHUNK :] = 0  # the second chunk never reached the disk...
    base.flush()
    del base
    synth_clustered._save_progress(str(out), {"key": {"n": kw["n"], "seed": 3, "dim": 384, "fbin": False},
                                              "chunks_done": 1})  # ...as progress.json records
    synth_clustered.generate(str(out), **kw)
    for x, y in zip(_folder(whole), _folder(out)):
        assert np.array_equal(x, y)
