"""Codec level: the scan scores are the documented estimates, computed
independently here from decoded vectors, for every metric and mode."""
import numpy as np
import pytest

from vecstore import ProductQuantization, ResidualBinaryQuantization, ScalarQuantization
from vecstore.engine.codecs import make_codec, state_from_bytes, state_to_bytes
from vecstore.engine.codecs.pq import default_m

from native.reference_codes import unpack_nibbles
from synthetic import clustered

METRICS = ["cosine", "dot", "l2"]


def prepared(data, metric):
    """What the engine hands a codec: unit vectors for cosine, raw otherwise."""
    scale = 1.0 if metric == "cosine" else 2.5
    return data.xb * scale, data.xq * scale


def scan_all(codec, codes, q):
    """Every row's code-space score, best first, through the codec's kernel."""
    n = len(codes)
    slots, scores = codec.search(codes, np.ones(n, np.uint8), q, n)
    out = np.empty((len(q), n), np.float64)
    for i in range(len(q)):
        out[i, slots[i]] = scores[i]
    return out


def metric_scores(q, x, metric):
    if metric == "l2":
        return -((q[:, None, :].astype(np.float64) - x[None]) ** 2).sum(axis=2)
    return q.astype(np.float64) @ x.T.astype(np.float64)


@pytest.fixture(scope="module")
def data():
    return clustered(1500, 70, nq=6, n_clusters=20, seed=21)  # 70: not a multiple of 64 nor of m


@pytest.mark.parametrize("metric", METRICS)
def test_scalar_scores_are_exact_for_the_decoded_vectors(data, metric):
    xb, xq = prepared(data, metric)
    codec = make_codec(ScalarQuantization(), 70, metric).fit(xb)
    codes = codec.encode(xb)
    assert codes.shape == (1500, 70) and codes.dtype == np.uint8
    decoded = codec.decode(codes)
    # every value within half a step of its code, except nothing is clipped for training data
    assert (np.abs(decoded - xb) <= codec.step / 2 + 1e-6).all()
    np.testing.assert_allclose(scan_all(codec, codes, xq), metric_scores(xq, decoded, metric), rtol=1e-4, atol=1e-3)


def test_scalar_clips_out_of_range_values(data):
    codec = make_codec(ScalarQuantization(), 70, "dot").fit(data.xb)
    codes = codec.encode(np.vstack([codec.lo - 5, codec.lo + 300 * codec.step]))
    assert (codes[0] == 0).all() and (codes[1] == 255).all()


_PQ_STATES = {}


@pytest.mark.parametrize("mode", ["adc", "sdc"])
@pytest.mark.parametrize("nbits,m", [(8, None), (8, 9), (4, None), (4, 15)])
@pytest.mark.parametrize("metric", METRICS)
def test_pq_scores_are_the_decoded_estimates(data, metric, nbits, m, mode):
    xb, xq = prepared(data, metric)
    key = (metric, nbits, m)
    if key not in _PQ_STATES:  # both modes share one training: it is the slow part
        _PQ_STATES[key] = make_codec(ProductQuantization(m=m, nbits=nbits, train_size=300), 70, metric).fit(xb[:600]).state()
    codec = make_codec(ProductQuantization(m=m, nbits=nbits, mode=mode, train_size=300), 70, metric).with_state(_PQ_STATES[key])
    m_eff = m or default_m(70, nbits)
    assert codec.m == m_eff and codec.padded_dim % m_eff == 0 and codec.padded_dim >= 70
    codes = codec.encode(xb)
    assert codes.shape == (1500, m_eff if nbits == 8 else (m_eff + 1) // 2)
    decoded = codec.decode(codes)
    q_used = codec.decode(codec.encode(xq)) if mode == "sdc" else xq
    np.testing.assert_allclose(scan_all(codec, codes, xq), metric_scores(q_used, decoded, metric), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("nbits", [8, 4])
def test_pq_codes_are_nearest_centroids(data, nbits):
    codec = make_codec(ProductQuantization(m=10, nbits=nbits, train_size=300), 70, "l2").fit(data.xb[:600])
    codes = codec.encode(data.xb)  # faiss
    from_codes = codes if nbits == 8 else unpack_nibbles(codes, codec.m)
    xs = codec._pad(data.xb).reshape(len(data.xb), codec.m, codec.dsub)
    dist = ((xs[:, :, None, :] - codec.centroids[None]) ** 2).sum(axis=3)  # (n, m, ks)
    for sub in (from_codes, codec.subcodes(data.xb)):  # numpy, used for SDC queries
        chosen = np.take_along_axis(dist, sub[:, :, None].astype(np.int64), axis=2)[:, :, 0]
        np.testing.assert_allclose(chosen, dist.min(axis=2), rtol=1e-5, atol=1e-5)


def test_pq_trains_on_fewer_vectors_than_centroids(data):
    """optimize() may train on a handful of vectors: each becomes its own code exactly."""
    few = data.xb[:5]
    codec = make_codec(ProductQuantization(nbits=8, train_size=300), 70, "dot").fit(few)
    np.testing.assert_allclose(codec.decode(codec.encode(few)), few, atol=1e-6)


@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("metric", METRICS)
def test_residual_adc_scores_use_the_quantized_query(data, metric, bits):
    xb, xq = prepared(data, metric)
    codec = make_codec(ResidualBinaryQuantization(bits=bits, mode="adc"), 70, metric).fit(xb)
    codes = codec.encode(xb)
    assert codes.shape[1] == 8 * (bits * 2 + (metric == "l2"))
    decoded = codec.decode(codes)
    u, lo, step = codec.quantize_query(xq)
    q_tilde = lo[:, None] + step[:, None] * u
    assert np.abs(q_tilde - xq).max() <= step.max() / 2 + 1e-6
    g = 2 if metric == "l2" else 1
    want = g * (xq @ codec.mean)[:, None] + g * (q_tilde @ (decoded - codec.mean).T)
    if metric == "l2":
        want -= (xq**2).sum(axis=1)[:, None] + (xb**2).sum(axis=1)[None, :]
    np.testing.assert_allclose(scan_all(codec, codes, xq), want, rtol=1e-4, atol=2e-3)


@pytest.mark.parametrize("bits", [2, 4])
@pytest.mark.parametrize("metric", METRICS)
def test_residual_sdc_scores_use_the_coded_query(data, metric, bits):
    xb, xq = prepared(data, metric)
    codec = make_codec(ResidualBinaryQuantization(bits=bits, mode="sdc"), 70, metric).fit(xb)
    codes = codec.encode(xb)
    decoded = codec.decode(codes)
    q_hat = codec.decode(codec.encode(xq))
    mu = codec.mean
    g = 2 if metric == "l2" else 1
    want = g * ((xq @ mu)[:, None] + (q_hat - mu) @ (decoded - mu).T + ((decoded - mu) @ mu)[None, :])
    if metric == "l2":
        want -= (xq**2).sum(axis=1)[:, None] + (xb**2).sum(axis=1)[None, :]
    np.testing.assert_allclose(scan_all(codec, codes, xq), want, rtol=1e-4, atol=2e-3)


def test_residual_levels_shrink_the_error_and_scales_are_least_squares(data):
    errors = []
    for bits in (2, 3, 4):
        codec = make_codec(ResidualBinaryQuantization(bits=bits), 70, "cosine").fit(data.xb)
        errors.append(((codec.decode(codec.encode(data.xb)) - data.xb) ** 2).sum())
    assert errors[0] > errors[1] > errors[2]
    # the last level's scale is the least-squares one: nudging it either way codes worse
    codec = make_codec(ResidualBinaryQuantization(bits=2), 70, "cosine").fit(data.xb)
    best = ((codec.decode(codec.encode(data.xb)) - data.xb) ** 2).sum()
    for factor in (0.9, 1.1):
        other = make_codec(ResidualBinaryQuantization(bits=2), 70, "cosine").with_state(
            {"mean": codec.mean, "scales": codec.scales * np.array([1, factor], np.float32)})
        assert ((other.decode(other.encode(data.xb)) - data.xb) ** 2).sum() > best


@pytest.mark.parametrize("config", [ScalarQuantization(), ResidualBinaryQuantization(bits=3, mode="sdc"),
                                    ProductQuantization(m=7, nbits=4, train_size=300)])
def test_state_round_trips_through_bytes(data, config):
    codec = make_codec(config, 70, "l2")
    assert not codec.trained and codec.state() == {}
    trained = codec.fit(data.xb[:600])
    assert trained.trained
    again = codec.with_state(state_from_bytes(state_to_bytes(trained.state())))
    assert again.trained
    np.testing.assert_array_equal(again.encode(data.xq), trained.encode(data.xq))
