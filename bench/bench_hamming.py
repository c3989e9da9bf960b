"""Benchmark: native.hamming_topk vs faiss.IndexBinaryFlat (1 thread) on random codes.

    python -m bench.bench_hamming [--n 1000000] [--bits 384] [--k 160] [--seed 0]

Both engines scan the same codes (faiss gets the uint8 view of our uint64 words; the
byte view is a fixed permutation of the bits on both sides, so distances agree).  The
distance lists are verified equal before timing (row sets may differ on ties: faiss
does not promise the smaller row on equal distances).  Timings alternate between the
two engines over several rounds and report the median, so slow drifts of the machine
hit both sides alike.
"""
import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np


import faiss

from native import hamming_topk

BANDWIDTH = 27e9  # bytes/s, single-core streaming read rate assumed for the floor


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def random_codes(rng, n, bits):
    w = (bits + 63) // 64
    c = rng.integers(0, 2**64, size=(n, w), dtype=np.uint64, endpoint=False)
    if bits % 64:
        c[:, -1] &= np.uint64((1 << (bits % 64)) - 1)  # padding bits are 0, as pack_signs makes them
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--bits", type=int, default=384)
    ap.add_argument("--k", type=int, default=160)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--single", type=int, default=200, help="queries timed one at a time")
    ap.add_argument("--batch", type=int, default=64, help="queries per batch call")
    ap.add_argument("--rounds", type=int, default=5, help="alternating timing rounds (median reported)")
    a = ap.parse_args()
    if a.bits % 8:
        ap.error("--bits must be a multiple of 8 (faiss stores whole bytes)")

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(a.seed)
    codes = random_codes(rng, a.n, a.bits)
    queries = random_codes(rng, a.single + a.batch, a.bits)
    nbytes = a.bits // 8
    u8 = lambda x: np.ascontiguousarray(x.view(np.uint8)[:, :nbytes])  # noqa: E731

    index = faiss.IndexBinaryFlat(a.bits)
    index.add(u8(codes))

    single_q = queries[: a.single]
    batch_q = queries[a.single:]

    # Warm-up (Numba compile / cache load) and correctness check before timing.
    for qs in (single_q[:8], batch_q):
        d_ours, _ = hamming_topk(codes, qs, a.k)
        d_faiss, _ = index.search(u8(qs), a.k)
        if not np.array_equal(d_ours, d_faiss.astype(np.int32)):
            bad = np.argwhere(d_ours != d_faiss)[0]
            sys.exit(f"MISMATCH at query {bad[0]} rank {bad[1]}: ours {d_ours[tuple(bad)]} faiss {d_faiss[tuple(bad)]}")
    for q in single_q[:8]:
        d_ours, _ = hamming_topk(codes, q[None, :], a.k)
        d_faiss, _ = index.search(u8(q[None, :]), a.k)
        if not np.array_equal(d_ours, d_faiss.astype(np.int32)):
            sys.exit("MISMATCH on a single query")
    print("verified: identical distance lists (faiss vs native)")

    single_u8 = [u8(single_q[i:i + 1]) for i in range(a.single)]
    single_ours = [single_q[i:i + 1] for i in range(a.single)]
    batch_u8 = u8(batch_q)

    def t_faiss_single():
        t = time.perf_counter()
        for q in single_u8:
            index.search(q, a.k)
        return (time.perf_counter() - t) / a.single

    def t_ours_single():
        t = time.perf_counter()
        for q in single_ours:
            hamming_topk(codes, q, a.k)
        return (time.perf_counter() - t) / a.single

    def t_faiss_batch():
        t = time.perf_counter()
        index.search(batch_u8, a.k)
        return (time.perf_counter() - t) / a.batch

    def t_ours_batch():
        t = time.perf_counter()
        hamming_topk(codes, batch_q, a.k)
        return (time.perf_counter() - t) / a.batch

    res = {name: [] for name in ("fs", "os", "fb", "ob")}
    for _ in range(a.rounds):
        res["fs"].append(t_faiss_single())
        res["os"].append(t_ours_single())
        res["fb"].append(t_faiss_batch())
        res["ob"].append(t_ours_batch())
    med = {key: statistics.median(v) * 1e3 for key, v in res.items()}

    floor_ms = a.n * a.bits / 8 / BANDWIDTH * 1e3
    print(f"command: python -m bench.bench_hamming --n {a.n} --bits {a.bits} --k {a.k} --seed {a.seed}")
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; numpy {np.__version__}, faiss {faiss.__version__}")
    print(f"memory-bandwidth floor: {a.n * a.bits / 8 / 1e6:.1f} MB per scan / 27 GB/s = {floor_ms:.3f} ms per pass")
    print(f"median of {a.rounds} alternating rounds, ms per query:")
    print(f"| mode | faiss IndexBinaryFlat (1 thread) | native.hamming_topk | speed-up |")
    print(f"|---|---|---|---|")
    print(f"| single ({a.single} queries, one per call) | {med['fs']:.3f} | {med['os']:.3f} | {med['fs'] / med['os']:.2f}x |")
    print(f"| batch of {a.batch} | {med['fb']:.3f} | {med['ob']:.3f} | {med['fb'] / med['ob']:.2f}x |")
    print("all rounds (ms/query): " + ", ".join(
        f"{key}=[{' '.join(f'{x * 1e3:.2f}' for x in v)}]" for key, v in res.items()))


if __name__ == "__main__":
    main()
