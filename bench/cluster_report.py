"""The `## Scale-out on Ray: <dataset>` section of bench/RESULTS.md, from a
bench/cluster.py result."""
from __future__ import annotations

from .report import table


def section(result: dict, note: str | None) -> str:
    lines = []
    if note:
        lines += [f"**{note}**", ""]
    over = ", ".join(f"{k}={v}" for k, v in result["search_overrides"].items()) or "the collection's defaults"
    lines += [
        f"`{result['command']}`",
        "",
        f"{result['n']:,} x {result['dim']} base vectors, {result['nq']:,} queries, k = {result['k']}, search "
        f"settings: {over}. Machine: {result['machine']} ({result['cpu_count']} CPUs seen by Python). "
        f"{result['versions']}. Whole run: {result['total_seconds']:,.0f} s.",
        "",
        f"A local Ray cluster of {result['ray_nodes']} nodes on loopback (`ray.cluster_utils.Cluster`, "
        f"{result['object_store_mb_per_node']:,} MiB object store each), every replica pinned to a node by a "
        "custom resource, the router (`vecstore.cluster`) in the benchmark's process. *unsharded (embedded)*: "
        "one collection opened with `vecstore.open` in that process, no Ray in between. All nodes share this "
        "machine's cores, so sharding here can only add cost: these rows measure what the distribution costs, "
        "not what more machines would give.",
        "",
        "- *ingest*: upsert in batches from an empty collection, every batch durable on every replica before "
        "the next (codes and IVF lists trained on the way, per shard); the router's write_timeout and "
        f"replica_timeout are {result.get('write_timeout_s', 0):,.0f} s here, so no replica is left behind "
        "while shards train on shared cores (a left-behind replica would be flagged below the table).",
        "- *single*: one query per call; *batch64*: 64 queries per call (q/s counts queries). The pass of median "
        "total time is reported.",
        "- *agreement*: mean share of the unsharded top-10 in the sharded top-10 (each shard reranks its own "
        "k x oversampling candidates exactly, so a sharded answer is as good or better; equal where the "
        "unsharded one is exact, up to ties).",
        "",
    ]
    for cfg in result["configs"]:
        lines += [f"### {cfg['config']}", ""]
        rows = []
        for r in cfg["layouts"]:
            i, s, b = r["ingest"], r["single"], r["batch64"]
            rows.append([r["layout"], i["vectors_per_s"], i["seconds"], s["p50_ms"], s["p99_ms"], s["qps"],
                         b["p50_ms"], b["p99_ms"], b["qps"], r["recall"], r["agreement_with_unsharded"],
                         r["partial"]])
        lines += [table(["layout", "ingest vec/s", "ingest s", "single p50 ms", "single p99 ms", "single q/s",
                         "batch64 p50 ms", "batch64 p99 ms", "batch64 q/s", "recall@10", "agreement",
                         "partial"], rows), ""]
        behind = [r["layout"] for r in cfg["layouts"] if any(r.get("left_behind_during_ingest") or [])]
        if behind:
            lines += [f"Replicas left behind (replica_timeout) during ingest in: {', '.join(behind)}: later "
                      "writes skipped them, so their ingest figure is flattered.", ""]
        lines += _costs(cfg), ""
    lines += _faults(result.get("faults") or {})
    lines += ["### What the benchmark had to reach into the router for", ""]
    lines += [f"- {g}" for g in result["router_gaps"]]
    return "\n".join(lines)


def _costs(cfg: dict) -> str:
    rows = []
    for r in cfg["layouts"]:
        c = r.get("costs")
        if not c:
            continue
        for kind in ("single", "batch64"):
            x = c[kind]
            per_shard = " / ".join(f"{v:.2f}" for v in x["engine_ms_p50_per_shard"])
            rows.append([r["layout"], kind, x["router_ms_p50"], per_shard,
                         x["slowest_engine_ms_p50"], x["slowest_actor_call_ms_p50"], x["ray_call_overhead_ms_p50"],
                         x["router_overhead_ms_p50"], x["router_cpu_ms_p50"], x["merge_ms_p50"], x["request_bytes"],
                         x["response_bytes_per_shard"]])
    if not rows:
        return ""
    head = ["layout", "call", "router ms", "engine ms per shard", "slowest engine ms", "slowest replica call ms",
            "Ray call overhead ms", "router overhead ms", "router CPU ms", "merge ms", "request B/shard",
            "reply B/shard"]
    extra = []
    for r in cfg["layouts"]:
        c = r.get("costs")
        if c:
            extra.append(f"{r['layout']}: a call doing no work (`count`) {c['empty_call_ms_p50']:.3f} ms p50 / "
                         f"{c['empty_call_ms_p99']:.3f} ms p99; one upsert batch of {c['upsert_batch']:,} sends "
                         f"{c['upsert_request_bytes_per_shard']:,.0f} B per shard replica "
                         f"({c['upsert_request_bytes_per_vector']:,.0f} B per vector, times the replicas)")
    text = [
        "Per-call costs (medians over the timed calls, back to back per query): *engine*: the search on each "
        "shard's data opened read-only in the router's process (no Ray); *replica call*: `ray.get` of one "
        "replica's `search`; *Ray call overhead*: replica call minus its engine time; *router overhead*: the "
        "router's whole search minus the slowest shard's engine time; *router CPU*: minus the slowest replica "
        "call instead (validation, dispatch, waiting, merge); *merge*: `routing.merge_search` of the answers; "
        "bytes: pickle (protocol 5) of the call and of each shard's reply, what Ray serialises.",
        "",
        table(head, rows),
        "",
    ]
    return "\n".join(text + [f"- {e}" for e in extra])


def _faults(f: dict) -> list[str]:
    if not f:
        return []
    lines = [f"### Faults ({f['config']})", ""]
    rows = []
    for key, what in (("kill_replicas_1", "SIGKILL of shard 0's process, replicas=1"),
                      ("kill_replicas_2", "SIGKILL of shard 0 replica 0's process, replicas=2")):
        r = f.get(key)
        if r:
            rows.append([what, r["read_timeout_s"], r["seconds_to_full_results"], r["seconds_to_replica_serving"],
                         r["searches"], r["partial_searches"], r["wrong_searches"], r["max_search_ms"]])
    if rows:
        lines += ["Searches of 16 queries without pause from the kill on, until the answer is whole and equal to "
                  "the one before the kill (and, with a peer, until the killed replica serves again). With one "
                  "replica the probe lowers read_timeout to 1 s, so a shard with no live replica gives answers "
                  "marked partial instead of waiting; with two it keeps the default (10 s): a search that waits "
                  "on the dead replica before asking its peer shows as *max search ms*.", "",
                  table(["fault", "read_timeout s", "s to full results", "s to the replica serving", "searches",
                         "partial", "wrong", "max search ms"], rows), ""]
    c = f.get("catch_up")
    if c:
        lines += [
            f"Catch-up: shard 0 replica 1 stopped (SIGSTOP) while {c['points_written_while_down']:,} points were "
            f"written ({c['write_seconds']:.2f} s, the first batch waiting replica_timeout 1 s before leaving it "
            f"behind: left behind {'yes' if c['left_behind'] else 'no'}, {c['points_behind']:,} points behind), "
            f"then resumed; one catch-up round (`_catch_up()`) took **{c['catch_up_seconds']:.2f} s**, copying the "
            f"whole shard ({c['shard_bytes_copied'] / 2**20:,.1f} MiB on disk, "
            f"{c['copy_mb_per_s'] or 0:,.1f} MiB/s); in sync after: {'yes' if c['in_sync_after'] else 'NO'}, "
            f"searches whole after: {'yes' if c['search_whole_after'] else 'NO'}. In service the background "
            "round runs every `catch_up_interval` (5 s by default), which adds up to that wait.", ""]
    return lines
