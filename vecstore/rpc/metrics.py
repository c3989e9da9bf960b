"""Prometheus metrics of one server, served over HTTP (`vecstore serve --metrics-port`).

Request figures are counted as calls finish (`RequestObserver` calls
`observe`); the database figures are read from `info()` of every collection
when Prometheus scrapes, so they are never stale and cost nothing between
scrapes. Each server has its own registry, so several servers in one process
(tests) do not share counters.

    vecstore_requests_total{method, code}                 calls finished
    vecstore_request_duration_seconds{method, code}       histogram of their latency
    vecstore_collections                                  collections in the database
    vecstore_collection_points{collection}                points
    vecstore_collection_ram_bytes{collection, part}       part="codes": codes plus the
                                                          slot -> id map; part="payload_indexes"
    vecstore_collection_disk_bytes{collection}            LMDB pages the collection uses
    vecstore_lmdb_file_bytes                              size of data.mdb on disk (not on a cluster router)
    vecstore_shard_replica_points{collection, shard, replica}        a cluster collection's
                                                          replicas (serve --ray): points in each
    vecstore_shard_replica_state{collection, shard, replica, state}  1 for its state (serving,
                                                          catching-up, restarting, quarantined)
    process_*                                             resident memory, CPU, open files

`method` is "Service/Method" (e.g. "Points/Search"), `code` the gRPC status name.
"""
from __future__ import annotations

import threading
from typing import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..api.interface import Database
from ..engine.oplog import logged_by_caller
from ..errors import UnavailableError, VecstoreError

# from a cached single-query search (well under a millisecond) to a bulk import message
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServerMetrics:
    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "vecstore_requests", "vecstore.v1 calls finished, by method and gRPC status",
            ["method", "code"], registry=self.registry,
        )
        self._latency = Histogram(
            "vecstore_request_duration_seconds", "Latency of vecstore.v1 calls in the server, by method and gRPC status",
            ["method", "code"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.registry.register(DatabaseCollector(db))
        ProcessCollector(registry=self.registry)

    def observe(self, method: str, code: str, seconds: float) -> None:
        self._requests.labels(method, code).inc()
        self._latency.labels(method, code).observe(seconds)

    def serve_http(self, host: str, port: int) -> "MetricsHttpServer":
        return MetricsHttpServer(self.registry, host, port)


class DatabaseCollector(Collector):
    """Collection and storage gauges, read at scrape time."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def describe(self) -> list[Metric]:
        return []  # figures depend on the collections present: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        collections = GaugeMetricFamily("vecstore_collections", "Collections in the database")
        points = GaugeMetricFamily("vecstore_collection_points", "Points in the collection", labels=["collection"])
        ram = GaugeMetricFamily(
            "vecstore_collection_ram_bytes",
            "RAM held by the collection: codes with the slot -> id map (part=codes), payload indexes (part=payload_indexes)",
            labels=["collection", "part"],
        )
        disk = GaugeMetricFamily("vecstore_collection_disk_bytes", "LMDB pages used by the collection, in bytes",
                                 labels=["collection"])
        replica_points = GaugeMetricFamily("vecstore_shard_replica_points", "Points in each shard replica",
                                           labels=["collection", "shard", "replica"])
        replica_state = GaugeMetricFamily("vecstore_shard_replica_state",
                                          "1 for the state each shard replica is in",
                                          labels=["collection", "shard", "replica", "state"])
        infos = []
        with logged_by_caller():  # a scrape is not a request: no engine log lines
            try:
                names = self._db.list_collections()
            except VecstoreError:  # closed while shutting down
                names = []
            for name in names:
                try:
                    infos.append(self._db.get_collection(name).info())
                except VecstoreError:  # dropped since the listing, or closed meanwhile
                    continue
        collections.add_metric([], len(infos))
        for info in infos:
            index_bytes = int(info.extra.get("payload_index_ram_bytes", 0))
            points.add_metric([info.name], info.count)
            ram.add_metric([info.name, "codes"], info.ram_bytes - index_bytes)
            ram.add_metric([info.name, "payload_indexes"], index_bytes)
            disk.add_metric([info.name], info.disk_bytes)
            for rep in info.extra.get("shard_replicas", ()):  # cluster collections only
                where = [info.name, str(rep["shard"]), str(rep["replica"])]
                replica_state.add_metric([*where, rep["state"]], 1)
                if rep.get("count") is not None:
                    replica_points.add_metric(where, rep["count"])
        yield from (collections, points, ram, disk, replica_points, replica_state)
        file_bytes = getattr(self._db, "file_bytes", None)  # a cluster router has no data file of its own
        if file_bytes is None:
            return
        try:
            size = file_bytes()
        except OSError:
            return
        yield GaugeMetricFamily("vecstore_lmdb_file_bytes", "Size of the LMDB data file on disk", value=size)


class MetricsHttpServer:
    """The exposition endpoint on its own daemon thread; `port` is the bound one."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        try:
            self._httpd, self._thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise UnavailableError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
        self.host = host
        self.port = self._httpd.server_port
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        if not self._stopped.is_set():
            self._stopped.set()
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(5)
