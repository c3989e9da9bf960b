"""The router: Database / Collection over shard actors on Ray.

Writes are split by id (routing.py), validated whole before anything is sent
(so a bad batch is refused, never half-applied), sent to every replica of each
target shard and acknowledged only when all of them committed; a replica that
is restarting is retried until `write_timeout`. Writes to one collection are
serialised here so every replica applies them in the same order. Reads go to
one live replica per shard (the next one if it fails or is stuck) and wait
until the call's deadline (gRPC's, or the `timeout=` of a read here; see
api/deadline.py) or `read_timeout`, whichever is sooner; a search with some
shard unanswered by then returns what the others have, with
`SearchResult.partial` set and a log line (DeadlineExceededError when no shard
answered within the call's deadline).
"""
from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import uuid
from typing import Any, Sequence

import numpy as np
import ray

from ..api import deadline, interface
from ..api import ids as I
from ..api import validate as V
from ..api.filters import compile_filter
from ..api.fusion import check_fusion, check_hybrid_args, fuse
from ..api.sparse_vectors import check_sparse_vectors
from ..config import CollectionConfig, check_name
from ..errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    DatabaseClosedError,
    DeadlineExceededError,
    InternalError,
    InvalidVectorError,
    PointNotFoundError,
    UnavailableError,
)
from ..types import CollectionInfo, Points, ScrollPage, SearchResult
from . import routing
from .catalog import Catalog
from .shard import ShardReplica

log = logging.getLogger("vecstore")
NAMESPACE = "vecstore"
_RETRY_PAUSE = 0.2
_POLL = 0.05  # how often a write looks at its replicas' answers
_STATUS_TIMEOUT = 10.0  # a catch-up round waits at most this for the replicas' status
_MISSING_SHOWN = 5  # unknown ids named in a PointNotFoundError, as the engine names them
# a call to a replica failed because of the replica (dead, restarting, unreachable)
_REPLICA_ERRORS = (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError,
                   ray.exceptions.ObjectLostError)


class _Down(Exception):
    """A replica answered that it must not serve (quarantined)."""


def _fetch(ref: Any, timeout: float) -> Any:
    """A replica's answer: its result, its VecstoreError raised, _Down, or a
    Ray error about the replica itself."""
    try:
        reply = ray.get(ref, timeout=max(0.0, timeout))
    except ray.exceptions.RayTaskError as exc:  # a bug, not bad input: never a raw remote traceback
        raise InternalError(f"a shard replica failed: {type(exc.cause).__name__}: {exc.cause}") from None
    return _result(reply)


def _result(reply: tuple[str, Any]) -> Any:
    state, value = reply
    if state == "ok":
        return value
    if state == "error":
        raise value
    raise _Down(value)


class _ShardRead:
    """One shard's part of a read (ClusterCollection._read): its in-sync
    replicas, the requests in flight, the replicas that failed."""

    def __init__(self, options: list[int], turn: int) -> None:
        self.options = options
        self.turn = turn  # which replica to ask next: reads rotate over the replicas
        self.asked: dict[Any, int] = {}  # request in flight -> replica
        self.down: set[int] = set()  # answered "quarantined"
        self.failed: set[int] = set()  # dead or restarting since the last pause
        self.retry_at: float | None = None
        self.hedge_at = 0.0
        self.why = "no answer"

    def next_replica(self) -> int | None:
        """A replica to ask: not quarantined, not failed, not already asked (None: none)."""
        busy = set(self.asked.values())
        for _ in range(len(self.options)):
            r = self.options[self.turn % len(self.options)]
            self.turn += 1
            if r not in self.down and r not in self.failed and r not in busy:
                return r
        return None


class ClusterCollection(interface.Collection):
    def __init__(self, database: "ClusterDatabase", entry: dict) -> None:
        self._database = database
        entry.setdefault("stale", [[] for _ in range(entry["shards"])])  # catalogs from before catch-up
        # per shard, the number of the last acknowledged write (shard.py: each replica notes its own)
        entry.setdefault("txns", [0] * entry["shards"])
        self._entry = entry
        self.config = CollectionConfig.from_dict(entry["config"])
        # names this incarnation of the collection, as the engine's cid (gRPC's collection_id)
        self.cid = int(entry["uid"], 16) or 1
        self._shards = entry["shards"]
        self._replicas = entry["replicas"]
        self._map = entry["shard_map"]
        self._actors = [[database._actor(entry, s, r, create=False) for r in range(self._replicas)]
                        for s in range(self._shards)]
        self._write_lock = threading.Lock()
        self._turn = itertools.count()  # which replica a read starts with
        self._dropped = False

    def __repr__(self) -> str:
        return f"ClusterCollection({self.name!r}, dim={self.dim}, shards={self._shards}, replicas={self._replicas})"

    def _check_usable(self) -> None:
        self._database._check_open()
        if self._dropped:
            raise CollectionNotFoundError(f"collection '{self.name}' was dropped")

    # -- calling replicas ---------------------------------------------------------------
    def _in_sync(self, s: int) -> list[int]:
        """Replicas of shard s holding every acknowledged write: the ones
        written to and read from (the others wait for their catch-up)."""
        stale = self._entry["stale"][s]
        return [r for r in range(self._replicas) if r not in stale]

    def _write(self, calls: dict[int, tuple[str, tuple, dict]]) -> dict[int, Any]:
        """Run calls[shard] on every in-sync replica of each shard; shard ->
        an answer, once each of those replicas committed, or was left behind.

        A replica is left behind (marked stale in the catalog, before the
        write is acknowledged, so it serves nothing until it caught up) when
        it is quarantined, or has not committed replica_timeout after a peer
        did. With no peer that committed, the router retries it (restarting
        replicas come back from their LMDB) until write_timeout, then fails."""
        db = self._database
        deadline = time.monotonic() + db.write_timeout
        targets = {s: self._in_sync(s) for s in calls}
        for s in calls:
            if not targets[s]:
                raise UnavailableError(f"collection '{self.name}': shard {s} has no up-to-date replica")

        def send(s: int, r: int) -> Any:
            m, a, kw = calls[s]
            return self._actors[s][r].call.remote(m, a, kw, self._entry["epochs"][s][r], self._entry["txns"][s] + 1)

        pending = {send(s, r): (s, r) for s in calls for r in targets[s]}
        resend: dict[tuple[int, int], float] = {}  # replica -> when to send the call again
        answers: dict[tuple[int, int], Any] = {}
        committed_at: dict[int, float] = {}  # shard -> when its first replica committed
        behind: set[tuple[int, int]] = set()
        failure: dict[tuple[int, int], str] = {}
        while pending or resend:
            ready = []
            if pending:
                ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=_POLL)
            now = time.monotonic()
            for ref in ready:
                s, r = pending.pop(ref)
                try:
                    answers[(s, r)] = _fetch(ref, 0)
                    committed_at.setdefault(s, now)
                except (_Down, *_REPLICA_ERRORS) as exc:
                    failure[(s, r)] = f"{type(exc).__name__}: {exc}"
                    if isinstance(exc, _Down):
                        if len(targets[s]) == 1:
                            raise UnavailableError(
                                f"collection '{self.name}': shard {s} replica {r} cannot take writes "
                                f"({failure[(s, r)]})") from None
                        behind.add((s, r))
                    else:
                        resend[(s, r)] = now + _RETRY_PAUSE
            waiting = [(s, r) for s, r in pending.values()] + list(resend)
            for s, r in waiting:
                if s in committed_at and now - committed_at[s] >= db.replica_timeout:
                    behind.add((s, r))  # its peers have it: it catches up later
                elif now >= deadline:
                    raise UnavailableError(
                        f"collection '{self.name}': shard {s} replica {r} did not commit "
                        f"({failure.get((s, r), 'no answer')}; write_timeout {db.write_timeout}s); the write "
                        f"may be applied on other replicas: repeat it (writes are idempotent)")
            pending = {ref: key for ref, key in pending.items() if key not in behind}
            resend = {key: at for key, at in resend.items() if key not in behind}
            for key in [key for key, at in resend.items() if at <= now]:
                del resend[key]
                pending[send(*key)] = key
        for s in calls:
            if not any((s, r) in answers for r in targets[s]):
                raise UnavailableError(f"collection '{self.name}': no replica of shard {s} committed")
        if behind:
            self._mark_stale(behind, failure)
        for s in calls:
            self._entry["txns"][s] += 1
        self._database._catalog.put(self.name, self._entry)  # before the acknowledgement: reads never go back
        return {s: answers[(s, min(r for r in targets[s] if (s, r) in answers))] for s in calls}

    def _mark_stale(self, replicas: set[tuple[int, int]], why: dict) -> None:
        """Record in the catalog that these replicas miss writes (caller holds the write lock)."""
        for s, r in sorted(replicas):
            if r not in self._entry["stale"][s]:
                log.warning("collection '%s': shard %d replica %d is behind (%s); it serves again once it "
                            "caught up", self.name, s, r, why.get((s, r), "slower than replica_timeout"))
                self._entry["stale"][s].append(r)
        self._database._catalog.put(self.name, self._entry)

    def _write_all(self, method: str, *args: Any, **kwargs: Any) -> dict[int, Any]:
        return self._write({s: (method, args, kwargs) for s in range(self._shards)})

    def _read(self, calls: dict[int, tuple[str, tuple, dict]], *, partial_ok: bool = False) -> dict[int, Any]:
        """One live in-sync replica per shard; shard -> answer.

        Waits until the call's deadline (api/deadline.py: the gRPC client's,
        or a `timeout=`) or read_timeout, whichever comes first. A replica
        still silent once half the time left has passed is presumed stuck: the
        shard's next replica is asked as well, and the first answer counts. A
        dead or restarting replica is retried, on the next replica first. A
        shard unanswered at the end is left out when partial_ok (with a log
        line; the caller marks its result partial), else raises:
        DeadlineExceededError when the call's deadline ran out, UnavailableError
        otherwise. A call's deadline that passes with no shard answered raises
        DeadlineExceededError even when partial_ok."""
        now = time.monotonic()
        end, by_call = now + self._database.read_timeout, False
        if deadline.current() is not None and deadline.current() < end:
            end, by_call = deadline.current(), True
        if by_call and end <= now:
            raise DeadlineExceededError(f"collection '{self.name}': the call's deadline passed before it was sent")
        turn = next(self._turn)
        shards = {s: _ShardRead(self._in_sync(s), turn) for s in calls}
        sent: dict[Any, int] = {}  # request in flight -> its shard
        answers: dict[int, Any] = {}
        timed_out = False

        def ask(s: int, now: float) -> bool:
            st = shards[s]
            r = st.next_replica()
            if r is None:
                return False
            ref = self._actors[s][r].call.remote(*calls[s], None, None, self._entry["txns"][s])  # no answer older
            st.asked[ref], sent[ref] = r, s
            st.hedge_at = now + (end - now) / 2
            return True

        def give_up(s: int, why: str) -> None:
            shards.pop(s)
            if partial_ok:
                log.warning("collection '%s': no answer from shard %d (%s): answer is partial", self.name, s, why)
                return
            if by_call and timed_out:
                raise DeadlineExceededError(f"collection '{self.name}': shard {s} did not answer within the "
                                            f"call's deadline ({why})")
            raise UnavailableError(f"collection '{self.name}': no live replica of shard {s} within "
                                   f"{self._database.read_timeout}s ({why})")

        for s in list(shards):
            if shards[s].options:
                ask(s, now)
            else:
                give_up(s, "no up-to-date replica")
        while shards:
            now = time.monotonic()
            if now >= end:
                timed_out = True
                for s in sorted(shards):
                    give_up(s, shards[s].why)
                break
            wake = min([end, *(st.hedge_at for st in shards.values() if st.asked),
                        *(st.retry_at for st in shards.values() if st.retry_at is not None)])
            ready: list = []
            if sent:
                ready, _ = ray.wait(list(sent), num_returns=1, timeout=max(0.0, wake - now))
            else:
                time.sleep(max(0.0, wake - now))
            now = time.monotonic()
            for ref in ready:
                s = sent.pop(ref)
                st = shards.get(s)
                if st is None:
                    continue  # a hedged request of a shard already answered (or given up)
                r = st.asked.pop(ref)
                try:
                    answers[s] = _fetch(ref, 0)
                except _Down as exc:  # quarantined: waiting will not help
                    st.down.add(r)
                    st.why = f"replica {r}: {exc}"
                except _REPLICA_ERRORS as exc:  # dead or restarting: may come back
                    st.failed.add(r)
                    st.why = f"replica {r}: {type(exc).__name__}: {exc}"
                else:
                    for other in st.asked:
                        sent.pop(other, None)
                    del shards[s]
                    continue
                if len(st.down) == len(st.options):
                    give_up(s, st.why)
                elif not st.asked and not ask(s, now):
                    st.retry_at = now + _RETRY_PAUSE  # every replica failed once: give restarts a moment
            for s, st in list(shards.items()):
                if st.retry_at is not None and st.retry_at <= now:
                    st.retry_at = None
                    st.failed.clear()
                    ask(s, now)
                elif st.asked and st.hedge_at <= now and not ask(s, now):
                    st.hedge_at = end  # no other replica to ask
        if by_call and timed_out and not answers:
            raise DeadlineExceededError(f"collection '{self.name}': no shard answered within the call's deadline")
        return answers

    # -- catch-up -------------------------------------------------------------------------
    def _catch_up(self) -> list[tuple[int, int]]:
        """Bring lagging replicas up to date from an in-sync one; returns those
        that now serve again. A replica is lagging when the catalog marks it
        stale, or it is quarantined but repairable (an empty disk, an old
        epoch, data older than its identity file), or it serves an older copy
        than the last acknowledged write (its identity's txn). The copy is
        taken and installed under the write lock, so it holds every
        acknowledged write and none is missed meanwhile."""
        db = self._database
        known = list(self._entry["txns"])  # before the states: an up-to-date replica has at least these
        states = db._replica_states(self._actors, timeout=min(db.read_timeout, _STATUS_TIMEOUT))
        repairable = {(st["shard"], st["replica"]) for st in states
                      if st["state"] == "quarantined" and st.get("repairable")}
        # serving, but an older copy than the writes acknowledged (a directory put back from a backup)
        old = {(st["shard"], st["replica"]) for st in states
               if st["state"] == "serving" and st.get("txn", 0) < known[st["shard"]]}
        # may take a copy: up (behind or not), or quarantined over an empty disk or an old copy;
        # never one quarantined over another's data
        alive = {(st["shard"], st["replica"]) for st in states if st["state"] == "serving"} | repairable
        repairable |= old
        done = []
        with self._write_lock:
            if self._dropped or self._database.closed:
                return done
            new = {(s, r) for s, r in repairable if r not in self._entry["stale"][s]}
            if new:
                self._mark_stale(new, {key: "an older copy than the writes acknowledged" if key in old
                                       else "quarantined, repairable" for key in new})
            for s in range(self._shards):
                sources = [r for r in self._in_sync(s) if (s, r) in alive]
                for r in sorted(self._entry["stale"][s]):
                    if (s, r) not in alive or not sources:
                        continue
                    try:
                        self._copy(s, sources[0], r)
                    except (*_REPLICA_ERRORS, ray.exceptions.RayTaskError) as exc:
                        log.warning("collection '%s': catch-up of shard %d replica %d failed (%s: %s); "
                                    "it is tried again", self.name, s, r, type(exc).__name__, exc)
                        continue
                    done.append((s, r))
        return done

    def _copy(self, s: int, source: int, target: int) -> None:
        timeout = max(60.0, self._database.write_timeout)
        files = ray.get(self._actors[s][source].copy_files.remote(self._entry["txns"][s]), timeout=timeout)
        epoch = max(self._entry["epochs"][s]) + 1
        identity = self._database._identity(self._entry, s, target, epoch)
        count = ray.get(self._actors[s][target].install.remote(files, identity), timeout=timeout)
        self._entry["epochs"][s][target] = epoch
        self._entry["stale"][s].remove(target)
        self._database._catalog.put(self.name, self._entry)  # from now on it serves
        log.warning("collection '%s': shard %d replica %d caught up from replica %d (%d points, epoch %d)",
                    self.name, s, target, source, count, epoch)

    def _read_all(self, method: str, *args: Any, **kwargs: Any) -> dict[int, Any]:
        return self._read({s: (method, args, kwargs) for s in range(self._shards)})

    def _ids(self, ids: Any, *, allow_empty: bool = False) -> np.ndarray:
        """ids checked as the engine checks them for this collection's id_type."""
        return I.check_ids_of(self.config.id_type, ids, self.name, allow_empty=allow_empty)

    def _split(self, ids: np.ndarray) -> dict[int, np.ndarray]:
        return routing.split(ids, self._map, self._shards)

    # -- writes ---------------------------------------------------------------------------
    def upsert(self, ids: Any, vectors: Any, payloads: Sequence[dict | None] | None = None, *,
               sparse: Any = None, sparse_vectors: Any = None) -> int:
        self._check_usable()
        if payloads is not None and not isinstance(payloads, (list, tuple)):
            payloads = list(payloads)  # indexed per shard below
        ids = self._ids(ids)
        I.check_unique_ids(ids)
        x = V.check_vectors(vectors, self.dim, collection=self.name)
        V.check_norms(x, self.metric)
        V.check_lengths(len(ids), len(x))
        V.check_payloads(payloads, len(ids))
        if self.metric == "cosine" and not np.all(np.any(x != 0, axis=1)):
            row = int(np.flatnonzero(~np.any(x != 0, axis=1))[0])
            raise InvalidVectorError(f"vector {row} is all zeros: cosine similarity needs a non-zero vector")
        codes = V.check_user_sparse(sparse, len(ids), self.config, what="sparse")
        rows = check_sparse_vectors(sparse_vectors, len(ids), self.config)
        calls = {}
        for s, pos in self._split(ids).items():
            part = None if payloads is None else [payloads[i] for i in pos]
            kw = {} if rows is None else {"sparse_vectors": routing.sparse_entries(rows, pos)}
            if codes is not None:  # user sparse codes go with their points
                kw["sparse"] = routing.code_entries(codes, pos)
            calls[s] = ("upsert", (ids[pos], x[pos], part), kw)
        with self._write_lock:
            self._check_usable()
            done = self._write(calls)
        return int(sum(done.values()))

    def delete(self, ids: Any = None, *, filter: dict | None = None) -> int:
        self._check_usable()
        V.check_delete_selector(ids, filter)
        if filter is not None:
            compile_filter(filter)
            with self._write_lock:
                return int(sum(self._write_all("delete", filter=filter).values()))
        return self._edit("delete", ids)

    def _edit(self, method: str, ids: Any, *rest: Any) -> int:
        ids = self._ids(ids, allow_empty=True)
        if not len(ids):
            return 0
        calls = {s: (method, (ids[pos], *rest), {}) for s, pos in self._split(ids).items()}
        with self._write_lock:
            self._check_usable()
            return int(sum(self._write(calls).values()))

    def set_payload(self, ids: Any, payload: dict) -> int:
        self._check_usable()
        from ..api import payloads as P
        P.set_keys(payload)  # refused here, before any shard sees it
        return self._edit("set_payload", ids, payload)

    def overwrite_payload(self, ids: Any, payload: dict | None) -> int:
        self._check_usable()
        from ..api import payloads as P
        P.overwrite(payload)
        return self._edit("overwrite_payload", ids, payload)

    def delete_payload_keys(self, ids: Any, keys: Sequence[str]) -> int:
        self._check_usable()
        from ..api import payloads as P
        P.delete_keys(keys)
        return self._edit("delete_payload_keys", ids, keys)

    def create_payload_index(self, key: str, kind: str) -> None:
        self._check_usable()
        with self._write_lock:
            self._write_all("create_payload_index", key, kind)

    def drop_payload_index(self, key: str) -> bool:
        self._check_usable()
        with self._write_lock:
            return bool(self._write_all("drop_payload_index", key)[0])

    def optimize(self) -> None:
        self._check_usable()
        with self._write_lock:
            self._write_all("optimize")

    # -- reads ----------------------------------------------------------------------------
    @deadline.takes_timeout
    def count(self, *, filter: dict | None = None) -> int:
        self._check_usable()
        compile_filter(filter)
        return int(sum(self._read_all("count", filter=filter).values()))

    @deadline.takes_timeout
    def get(self, ids: Any, *, with_vectors: bool = True, with_payloads: bool = True) -> Points:
        self._check_usable()
        ids = self._ids(ids, allow_empty=True)
        split = self._split(ids)
        kw = {"with_vectors": with_vectors, "with_payloads": with_payloads}
        answers = self._read({s: ("get", (ids[pos],), kw) for s, pos in split.items()})
        parts = {s: (split[s], answers[s]) for s in split}
        return routing.gather_points(len(ids), parts, self.dim if with_vectors else 0, self.config.vector_dtype, ids)

    @deadline.takes_timeout
    def scroll(self, limit: int = 100, *, after: int | str | None = None, filter: dict | None = None,
               with_vectors: bool = False, with_payloads: bool = True) -> ScrollPage:
        self._check_usable()
        limit = V.check_limit(limit)
        after = I.check_cursor_of(self.config.id_type, after, self.name)
        compile_filter(filter)
        pages = self._read_all("scroll", limit, after=after, filter=filter, with_vectors=with_vectors,
                               with_payloads=with_payloads)
        return routing.merge_scroll([pages[s] for s in sorted(pages)], limit, self.config.vector_dtype)

    @deadline.takes_timeout
    def search(self, queries: Any, k: int = 10, *, filter: dict | None = None, oversampling: float | None = None,
               rescore: bool | None = None, nprobe: int | None = None, sparse_queries: Any = None,
               margin: float | None = None, sparse_query: Any = None, fusion: str = "rrf", rrf_k: float = 60,
               dense_weight: float = 0.5, with_payloads: bool = False, with_vectors: bool = False) -> SearchResult:
        """Every shard's exact top-k (after its rerank), merged: the ids one
        unsharded collection over the same points returns, up to ties. Hybrid
        (sparse_query): each shard's dense and sparse lists, each merged
        exactly across shards, then fused once, as one collection fuses."""
        self._check_usable()
        hit_data = {"with_payloads": bool(with_payloads), "with_vectors": bool(with_vectors)}
        dense = {"oversampling": oversampling, "rescore": rescore, "nprobe": nprobe,
                 "sparse_queries": sparse_queries, "margin": margin}
        if sparse_query is not None or queries is None:
            return self._hybrid(queries, k, filter, sparse_query, fusion, rrf_k, dense_weight, dense, hit_data)
        check_fusion(fusion, rrf_k, dense_weight)  # unused without a sparse_query, but a typo is an error
        q = V.check_vectors(queries, self.dim, what="query", collection=self.name)
        V.check_norms(q, self.metric, what="query")
        k = V.check_k(k)
        compile_filter(filter)
        kw = {"filter": filter, **dense, **hit_data}
        answers = self._read({s: ("search", (q, k), kw) for s in range(self._shards)}, partial_ok=True)
        if not answers:
            return _nothing(len(q), k, self.dim, hit_data, self.config.id_type)
        merged = routing.merge_search([answers[s] for s in sorted(answers)], k, self.metric)
        return _marked(merged, len(answers) < self._shards)

    def _hybrid(self, queries: Any, k: int, filter: dict | None, sparse_query: Any, fusion: str, rrf_k: float,
                dense_weight: float, dense: dict, hit_data: dict) -> SearchResult:
        """Hybrid search, or sparse retrieval alone; checks in the engine's order (hybrid.search)."""
        q, q_rows, k, depth, fusion, rrf_k, dense_weight = check_hybrid_args(
            self.config, queries, k, sparse_query, fusion, rrf_k, dense_weight, dense)
        compile_filter(filter)
        sq = routing.sparse_entries(q_rows, empty_as_none=False)
        kw = {"filter": filter, "dense": dense, **hit_data}
        answers = self._read({s: ("hybrid_lists", (q, depth, sq), kw) for s in range(self._shards)}, partial_ok=True)
        if not answers:
            return _nothing(len(q_rows), k, self.dim, hit_data, self.config.id_type)
        partial = len(answers) < self._shards
        parts = [answers[s] for s in sorted(answers)]
        sparse = routing.merge_search([p[1] for p in parts], depth, "dot")  # dot products: higher is better
        if q is None:
            return _marked(sparse, partial)
        dense_hits = routing.merge_search([p[0] for p in parts], depth, self.metric)
        fused = fuse(dense_hits, sparse, k, fusion=fusion, rrf_k=rrf_k, dense_weight=dense_weight,
                     dense_higher_better=self.metric != "l2")
        fused = routing.attach_from(fused, [dense_hits, sparse], self.dim, **hit_data)
        return _marked(fused, partial)

    @deadline.takes_timeout
    def search_by_id(self, ids: Any, k: int = 10, *, filter: dict | None = None, oversampling: float | None = None,
                     rescore: bool | None = None, nprobe: int | None = None, margin: float | None = None,
                     with_payloads: bool = False, with_vectors: bool = False) -> SearchResult:
        """The points' stored vectors (read from their shards) as queries, k + 1
        searched over every shard, each point dropped from its own hits."""
        self._check_usable()
        ids = self._ids(ids)
        k = V.check_by_id_k(k)
        # the engine's checks, in its order (hit_data.search_by_id): the same errors
        qcfg = self.config.quantization
        over = V.check_oversampling_arg(oversampling)
        again = V.check_rescore_arg(rescore)
        V.check_search_size(len(ids), k + 1, V.candidates_per_query(
            k + 1, qcfg.oversampling if over is None else over, qcfg.rescore if again is None else again,
            self.config))
        V.check_nprobe_arg(nprobe, self.config.ivf, self.name)
        V.check_margin_arg(margin, self.config)
        compile_filter(filter)
        uniq, inverse = np.unique(ids, return_inverse=True)
        stored = self.get(uniq, with_payloads=False)
        if len(stored.ids) != len(uniq):
            missing = np.setdiff1d(uniq, stored.ids).tolist()
            named = map(repr if isinstance(missing[0], str) else str, missing[:_MISSING_SHOWN])  # as the engine
            shown = ", ".join(named) + (", ..." if len(missing) > _MISSING_SHOWN else "")
            raise PointNotFoundError(f"collection '{self.name}' has no point with id {shown} "
                                     f"({len(missing)} of the {len(uniq)} ids asked for)")
        codes = None
        if self.config.quantization.kind == "sparse" and self.config.quantization.user_codes:
            codes = self._stored_codes(uniq)  # with user codes, a point's own code is its query's
            codes = [codes[i] for i in inverse.tolist()]
        hits = self.search(stored.vectors[inverse], k + 1, filter=filter, oversampling=oversampling,
                           rescore=rescore, nprobe=nprobe, margin=margin, sparse_queries=codes,
                           with_payloads=with_payloads, with_vectors=with_vectors)
        return routing.without_own(hits, ids)

    def _stored_codes(self, ids: np.ndarray) -> list:
        """The stored user sparse codes of ids (which exist), in their order."""
        split = self._split(ids)
        answers = self._read({s: ("stored_codes", (ids[pos],), {}) for s, pos in split.items()})
        out: list = [None] * len(ids)
        for s, pos in split.items():
            for p, code in zip(pos.tolist(), answers[s]):
                out[p] = code
        return out

    def payload_indexes(self) -> dict[str, str]:
        self._check_usable()
        return self._read({0: ("payload_indexes", (), {})})[0]

    def info(self) -> CollectionInfo:
        """Summed over shards (count, disk) and over every replica (RAM);
        extra["shard_replicas"] lists each shard replica with its node,
        process, state and count. Works while shards are down (when it is
        most needed): extra["missing_shards"] then names those not counted."""
        self._check_usable()
        infos = self._read({s: ("info", (), {}) for s in range(self._shards)}, partial_ok=True)
        states = self._database._replica_states(self._actors)
        for st in states:  # the router knows which replicas wait for their catch-up
            if st["state"] == "serving" and st["replica"] in self._entry["stale"][st["shard"]]:
                st["state"] = "catching-up"
        first = next(iter(infos.values()), None)
        return CollectionInfo(
            config=self.config,
            count=sum(i.count for i in infos.values()),
            trained=bool(infos) and all(i.trained for i in infos.values()),
            ram_bytes=sum(i.ram_bytes for i in infos.values()) * self._replicas,
            disk_bytes=sum(i.disk_bytes for i in infos.values()) * self._replicas,
            extra={"shards": self._shards, "replicas": self._replicas, "virtual_shards": routing.VIRTUAL_SHARDS,
                   "payload_indexes": first.extra.get("payload_indexes", {}) if first else {},
                   "missing_shards": [s for s in range(self._shards) if s not in infos], "shard_replicas": states},
        )


def _nothing(nq: int, k: int, dim: int, hit_data: dict, id_type: str) -> SearchResult:
    """No shard answered: every row padding (-1, or None for str ids), marked partial."""
    ids = np.full((nq, k), None, object) if id_type == "str" else np.full((nq, k), -1, np.int64)
    return SearchResult(ids=ids, scores=np.full((nq, k), np.nan, np.float32),
                        payloads=[[None] * k for _ in range(nq)] if hit_data["with_payloads"] else None,
                        vectors=np.full((nq, k, dim), np.nan, np.float32) if hit_data["with_vectors"] else None,
                        partial=True)


def _marked(result: SearchResult, partial: bool) -> SearchResult:
    if not partial:
        return result
    return SearchResult(ids=result.ids, scores=result.scores, payloads=result.payloads, vectors=result.vectors,
                        partial=True)


class ClusterDatabase(interface.Database):
    """`vecstore.cluster(address, path)`: collections sharded over Ray actors.

    path: the router's directory (its catalog); shard_root: where each shard
    replica keeps its data, on its own node's disk (default: path/shards).
    node_resources: optional Ray custom resource names, one per node; replica
    r of shard s is pinned to node_resources[(s + r) % len] (replicas of one
    shard on different nodes), else Ray spreads them.

    read_timeout: how long a read waits for some live replica of each shard
    (at most: a call's own deadline, `timeout=` or gRPC's, may be sooner).
    write_timeout: how long a write retries a shard none of whose replicas
    committed. replica_timeout: how long after a peer committed a write
    waits for a replica before leaving it behind (stale, caught up later).
    catch_up_interval: seconds between rounds of the background catch-up of
    lagging replicas (None: none; `_catch_up()` by hand)."""

    def __init__(self, address: str, path: str | os.PathLike, *, shard_root: str | None = None,
                 node_resources: Sequence[str] | None = None, read_timeout: float = 10.0,
                 write_timeout: float = 120.0, replica_timeout: float = 10.0,
                 catch_up_interval: float | None = 5.0) -> None:
        self._owns_ray = not ray.is_initialized()  # else: a Ray job, a notebook or a test set it up
        if self._owns_ray:
            if address == "local":
                ray.init(address="local", namespace=NAMESPACE, include_dashboard=False)
            else:
                ray.init(address=address, namespace=NAMESPACE)
        self.path = os.path.abspath(os.fspath(path))
        self.shard_root = os.path.abspath(shard_root) if shard_root else os.path.join(self.path, "shards")
        self.node_resources = list(node_resources or [])
        self.read_timeout = float(read_timeout)
        self.write_timeout = float(write_timeout)
        self.replica_timeout = float(replica_timeout)
        self._catalog = Catalog(self.path)
        self._lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        self._collections: dict[str, ClusterCollection] = {}
        for name, entry in self._catalog.entries().items():
            self._collections[name] = ClusterCollection(self, entry)
        self._catcher = None
        if catch_up_interval is not None:
            self._catcher = threading.Thread(target=self._catch_up_loop, args=(float(catch_up_interval),),
                                             name="vecstore-catch-up", daemon=True)
            self._catcher.start()

    def _catch_up_loop(self, interval: float) -> None:
        """Every `interval` seconds, catch up the lagging replicas of every
        replicated collection (ClusterCollection._catch_up)."""
        while not self._stop.wait(interval):
            with self._lock:
                cols = [c for c in self._collections.values() if c._replicas > 1]
            for col in cols:
                if self._stop.is_set():
                    return
                try:
                    col._catch_up()
                except Exception:  # noqa: BLE001 - a background loop must go on; the next round retries
                    log.exception("collection '%s': catch-up round failed", col.name)

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseClosedError("the cluster handle is closed")

    def _actor(self, entry: dict, s: int, r: int, *, create: bool) -> Any:
        """The named detached actor of replica r of shard s: found by name when
        it lives, else started (reopening its directory unless `create`)."""
        name = f"vecstore-{entry['uid']}-s{s}-r{r}"
        identity = self._identity(entry, s, r, entry["epochs"][s][r])
        options: dict[str, Any] = {"name": name, "namespace": NAMESPACE, "lifetime": "detached",
                                   "max_restarts": -1, "get_if_exists": True, "num_cpus": 0,
                                   "max_concurrency": 4}
        if self.node_resources:
            options["resources"] = {self.node_resources[(s + r) % len(self.node_resources)]: 0.001}
        else:
            options["scheduling_strategy"] = "SPREAD"
        directory = os.path.join(self.shard_root, entry["uid"], f"shard-{s}-replica-{r}")
        return ray.remote(ShardReplica).options(**options).remote(directory, identity, entry["config"], create)

    @staticmethod
    def _identity(entry: dict, s: int, r: int, epoch: int) -> dict:
        """What replica r of shard s writes in its identity file (shard.py)."""
        identity = {"collection": entry["config"]["name"], "uid": entry["uid"], "shard": s, "replica": r,
                    "epoch": epoch, "txn": entry["txns"][s] if "txns" in entry else 0}
        if entry.get("stored_as"):  # restored under a new name (snapshots.py)
            identity["stored_as"] = entry["stored_as"]
        return identity

    def _replica_states(self, actors: list[list[Any]], timeout: float | None = None) -> list[dict]:
        """Each replica's status, asked of all at once within `timeout`
        (default read_timeout); one that does not answer is restarting (or its node is gone)."""
        deadline = time.monotonic() + (self.read_timeout if timeout is None else timeout)
        refs = [[actor.status.remote() for actor in row] for row in actors]
        out = []
        for s, row in enumerate(refs):
            for r, ref in enumerate(row):
                try:
                    state = ray.get(ref, timeout=max(0.0, deadline - time.monotonic()))
                except _REPLICA_ERRORS as exc:
                    state = {"state": "restarting", "reason": type(exc).__name__}
                out.append({"shard": s, "replica": r, **state})
        return out

    def create_collection(self, name: str, *, dim: int, metric: str = "cosine", quantization: Any = "binary",
                          vector_dtype: str = "float32", ivf: Any = None, vectors_in_ram: bool = False,
                          sparse_vectors: Any = None, id_type: str = "int", shards: int = 1,
                          replicas: int = 1) -> ClusterCollection:
        """As the engine's, plus shards (points split by id hash) and replicas
        (copies of each shard, on different nodes when node_resources allow).
        str ids (id_type="str") route by a hash of their UTF-8 bytes (routing.py)."""
        self._check_open()
        config = CollectionConfig(name=name, dim=dim, metric=metric, quantization=quantization,
                                  vector_dtype=vector_dtype, ivf=ivf, vectors_in_ram=vectors_in_ram,
                                  sparse_vectors=sparse_vectors, id_type=id_type)
        shards, replicas = V.check_layout(shards, replicas)
        with self._lock:
            if name in self._collections:
                raise CollectionExistsError(f"collection '{name}' already exists")
            entry = {"config": config.to_dict(), "shards": shards, "replicas": replicas, "uid": uuid.uuid4().hex[:12],
                     "shard_map": routing.default_shard_map(shards), "epochs": [[1] * replicas for _ in range(shards)],
                     "stale": [[] for _ in range(shards)]}
            actors = [[self._actor(entry, s, r, create=True) for r in range(replicas)] for s in range(shards)]
            try:  # every replica up, with its collection created, before the catalog names it
                for row in actors:
                    for a in row:
                        st = ray.get(a.status.remote(), timeout=max(60.0, self.write_timeout))
                        if st["state"] != "serving":
                            raise InternalError(f"shard replica did not start: {st['reason']}")
            except BaseException:
                self._kill(actors)
                raise
            self._catalog.put(name, entry)
            col = ClusterCollection(self, entry)
            self._collections[name] = col
            return col

    def _kill(self, actors: list[list[Any]]) -> None:
        for row in actors:
            for a in row:
                try:
                    ray.get(a.drop.remote(), timeout=30)
                except Exception:  # noqa: BLE001 - it is going away anyway
                    pass
                ray.kill(a, no_restart=True)

    def get_collection(self, name: str) -> ClusterCollection:
        self._check_open()
        check_name(name)
        with self._lock:
            col = self._collections.get(name)
        if col is None:
            raise CollectionNotFoundError(f"collection '{name}' does not exist")
        return col

    def list_collections(self) -> list[str]:
        self._check_open()
        with self._lock:
            return sorted(self._collections)

    def drop_collection(self, name: str) -> None:
        col = self.get_collection(name)
        with self._lock, col._write_lock:
            col._dropped = True
            self._catalog.delete(name)  # first: a crash after this leaves stray actors, never a half collection
            del self._collections[name]
            self._kill(col._actors)

    def snapshot(self, dest: str | os.PathLike) -> str:
        """Per collection, one up-to-date replica of each shard copies itself
        into dest/<collection>/shard-<s>/ under the collection's write lock,
        then a manifest is written (snapshots.py; on several machines dest
        must be a shared filesystem). Restore: vecstore.cluster.restore."""
        self._check_open()
        from . import snapshots

        return snapshots.take(self, dest)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the router's catalog; the shard actors (detached) keep
        running, unless this handle started Ray itself: then Ray stops (a
        "local" Ray, with its actors; they reopen their disks next time)."""
        self._stop.set()
        if self._catcher is not None and self._catcher is not threading.current_thread():
            self._catcher.join(timeout=max(60.0, self.write_timeout))
        with self._lock:
            if not self._closed:
                self._closed = True
                self._catalog.close()
                if self._owns_ray:
                    ray.shutdown()

    def __enter__(self) -> "ClusterDatabase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ClusterDatabase({self.path!r}, collections={len(self._collections)})"
