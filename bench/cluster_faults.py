"""Fault timings of bench/cluster.py: how long a sharded collection takes to
answer in full again after a shard process is killed, and how long a replica
that missed writes takes to catch up and serve again.

Uses the router's internals the way tests/test_cluster.py does (`_actors`,
`_entry["stale"]`, `_catch_up()`): the public API has no call that names a
replica's process or starts a catch-up round.
"""
from __future__ import annotations

import os
import signal
import time

import numpy as np

from .measure import dir_bytes

GIVE_UP_S = 300.0  # a fault whose recovery takes longer is reported as not recovered


def _status(actor, wait: float = GIVE_UP_S) -> dict:
    """The replica's status once it answers (Ray may be restarting its process)."""
    import ray

    deadline = time.monotonic() + wait
    while True:
        try:
            return ray.get(actor.status.remote(), timeout=10)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def shard_kill(db, col, probe: np.ndarray, k: int, search_kw: dict, *, shard: int = 0, replica: int = 0,
               probe_timeout: float = 1.0) -> dict:
    """SIGKILL one replica's process, then search `probe` without pause until
    the answer is whole (not partial) and equals the answer before the kill.

    With one replica the searches meanwhile come back partial after
    `probe_timeout` (the router's read_timeout, lowered for the probe); with
    two, the peer answers and every search should stay whole."""
    expected = col.search(probe, k, **search_kw).ids
    actor = col._actors[shard][replica]
    old_pid = _status(actor)["pid"]
    saved, db.read_timeout = db.read_timeout, probe_timeout
    lat, partial, wrong = [], 0, 0
    try:
        os.kill(old_pid, signal.SIGKILL)
        t0 = time.monotonic()
        full_at = None
        while time.monotonic() - t0 < GIVE_UP_S:
            t = time.perf_counter()
            got = col.search(probe, k, **search_kw)
            lat.append(time.perf_counter() - t)
            if got.partial:
                partial += 1
                continue
            if not np.array_equal(got.ids, expected):
                wrong += 1  # whole but different: must never happen
                continue
            if full_at is None:
                full_at = time.monotonic() - t0
            # with replicas the first whole answer comes at once: go on until the killed one serves again
            if len(col._actors[shard]) == 1 or _answers(actor):
                break
        back = _status(actor)
        back_at = time.monotonic() - t0
    finally:
        db.read_timeout = saved
    return {"shard": shard, "replica": replica, "replicas": len(col._actors[shard]),
            "seconds_to_full_results": full_at, "seconds_to_replica_serving": back_at,
            "searches": len(lat), "partial_searches": partial, "wrong_searches": wrong,
            "max_search_ms": float(max(lat) * 1e3) if lat else None,
            "p50_search_ms": float(np.median(lat) * 1e3) if lat else None,
            "old_pid": old_pid, "new_pid": back["pid"], "state_after": back["state"],
            "read_timeout_s": probe_timeout}


def _answers(actor) -> bool:
    import ray

    try:
        return ray.get(actor.status.remote(), timeout=0.05)["state"] == "serving"
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        return False


def _replica_count(actor) -> int:
    import ray

    state, count = ray.get(actor.call.remote("count"), timeout=120)
    if state != "ok":
        raise RuntimeError(f"replica answered {state}: {count}")
    return int(count)


def catch_up(db, col, new_ids: np.ndarray, new_vectors: np.ndarray, batch: int, probe: np.ndarray, k: int,
             search_kw: dict, *, shard: int = 0, replica: int = 1, replica_timeout: float = 1.0) -> dict:
    """Stop one replica (SIGSTOP: alive but not answering, as a hung process
    or a partition), write `new_ids` meanwhile (the router leaves it behind
    after `replica_timeout`), let it go on (SIGCONT), then time one catch-up
    round, which copies the whole shard from its peer and installs it."""
    actor, peer = col._actors[shard][replica], col._actors[shard][1 - replica]
    pid = _status(actor)["pid"]
    saved, db.replica_timeout = db.replica_timeout, replica_timeout
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.perf_counter()
        for lo in range(0, len(new_ids), batch):
            col.upsert(new_ids[lo:lo + batch], new_vectors[lo:lo + batch])
        write_s = time.perf_counter() - t0
    finally:
        os.kill(pid, signal.SIGCONT)
        db.replica_timeout = saved
    left_behind = replica in col._entry["stale"][shard]
    behind_by = _replica_count(peer) - _replica_count(actor)
    source_bytes = dir_bytes(_status(peer)["directory"])
    t1 = time.perf_counter()
    done = col._catch_up()
    catch_s = time.perf_counter() - t1
    in_sync = _replica_count(actor) == _replica_count(peer) and replica not in col._entry["stale"][shard]
    got = col.search(probe, k, **search_kw)
    return {"shard": shard, "replica": replica, "points_written_while_down": int(len(new_ids)),
            "write_seconds": write_s, "left_behind": left_behind, "points_behind": int(behind_by),
            "catch_up_seconds": catch_s, "caught_up": (shard, replica) in done, "in_sync_after": in_sync,
            "shard_bytes_copied": int(source_bytes),
            "copy_mb_per_s": source_bytes / 2**20 / catch_s if catch_s > 0 else None,
            "search_whole_after": not got.partial}
