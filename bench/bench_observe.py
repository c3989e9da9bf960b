"""Benchmark: what per-request observation costs a gRPC call.

    python -m bench.bench_observe [--calls 3000] [--rounds 5]

One in-process server over a small collection, called with a cheap RPC
(`count`, about the cheapest round trip there is, so the overhead shows) and
a single-query `search`, in settings that alternate round by round:

  bare      no request observer (patched out: the server before observability)
  plain     the request observer, always on (status, latency, log level check)
  metrics   plus Prometheus counters and histogram (--metrics-port)
  logged    plus one DEBUG request line per call, to a handler that drops it

Reports the median microseconds per call of each. Client and server share
this process (and its GIL), so absolute figures are for comparison only,
and differences of a few percent drown in the round trip's noise. So the
observer is also timed alone: its wrapper called directly, around a handler
that does nothing, with a stand-in servicer context (no network, no engine).
"""
import argparse
import logging
import os
import shutil
import tempfile
import time

import grpc
import numpy as np


import vecstore
import vecstore.rpc.server as server_module
from vecstore.rpc.server import RpcServer


class Passthrough(grpc.ServerInterceptor):
    """Stands in for RequestObserver to build the 'bare' server."""

    def __init__(self, metrics=None):
        pass

    def intercept_service(self, continuation, handler_call_details):
        return continuation(handler_call_details)


def bare_server(db):
    real = server_module.RequestObserver
    server_module.RequestObserver = Passthrough
    try:
        return RpcServer(db).start()
    finally:
        server_module.RequestObserver = real


class StandInContext:
    """The ServicerContext calls the observer makes, answered at no cost."""

    def code(self):
        return None

    def is_active(self):
        return True

    def peer(self):
        return "ipv4:127.0.0.1:50000"

    def trailing_metadata(self):
        return None


def observer_alone_us(db, calls):
    """{setting: us per call} of the observer's wrapper around a do-nothing handler."""
    from vecstore.rpc.metrics import ServerMetrics
    from vecstore.rpc.observe import RequestObserver
    from vecstore.rpc.v1 import vecstore_pb2 as pb

    def nothing(request, context):
        return pb.CountResponse(count=0)

    class Details:
        method = "/vecstore.v1.Points/Count"
        invocation_metadata = ()

    handler = grpc.unary_unary_rpc_method_handler(nothing)
    request = pb.CountRequest(collection=pb.CollectionRef(name="docs"), filter=pb.Filter())
    context = StandInContext()
    out = {"bare": per_call_us(lambda: nothing(request, context), calls)}
    for name, metrics in (("observer", None), ("observer + metrics", ServerMetrics(db))):
        wrapped = RequestObserver(metrics).intercept_service(lambda _: handler, Details()).unary_unary
        out[name] = per_call_us(lambda: wrapped(request, context), calls)
    return out


def per_call_us(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=3000, help="calls per timed round")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds (median reported)")
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="bench_observe")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5000, 64)).astype(np.float32)
    requests_log = logging.getLogger("vecstore.requests")
    requests_log.propagate = False
    requests_log.addHandler(logging.NullHandler())
    results = {}
    try:
        with vecstore.open(os.path.join(work, "db"), sync=False) as db:
            col = db.create_collection("docs", dim=64, quantization=vecstore.BinaryQuantization(train_size=1000))
            col.upsert(np.arange(len(x)), x, [{"tag": i % 10} for i in range(len(x))])
            col.create_payload_index("tag", "integer")
            alone = observer_alone_us(db, 100 * a.calls)
            servers = {"bare": bare_server(db), "plain": RpcServer(db).start(),
                       "metrics": RpcServer(db, metrics_port=0).start()}
            clients = {name: vecstore.connect(s.address) for name, s in servers.items()}
            settings = [("bare", "bare", False), ("plain", "plain", False), ("metrics", "metrics", False),
                        ("logged", "metrics", True)]
            for name, _, _ in settings:
                results[name] = {"count": [], "search": [], "filtered search": []}
            for _ in range(a.rounds):
                for name, server, logged in settings:
                    requests_log.setLevel(logging.DEBUG if logged else logging.WARNING)
                    remote = clients[server].get_collection("docs")
                    remote.count()  # connect and warm before timing
                    results[name]["count"].append(per_call_us(remote.count, a.calls))
                    q = x[0]
                    results[name]["search"].append(per_call_us(lambda: remote.search(q, k=10), a.calls // 3))
                    results[name]["filtered search"].append(
                        per_call_us(lambda: remote.search(q, k=10, filter={"tag": 3}), a.calls // 3))
            for client in clients.values():
                client.close()
            for server in servers.values():
                server.stop(grace=1)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("| call | bare (us) | observer (us) | + metrics (us) | + metrics + request log (us) |")
    print("|---|---|---|---|---|")
    for call in ("count", "search", "filtered search"):
        cells = [f"{np.median(results[name][call]):.0f}" for name in ("bare", "plain", "metrics", "logged")]
        print(f"| {call} | " + " | ".join(cells) + " |")
    print("\nThe observer alone (no network, no engine):\n")
    print("| setting | us per call |")
    print("|---|---|")
    for name, us in alone.items():
        print(f"| {name} | {us:.2f} |")


if __name__ == "__main__":
    main()
