"""Markdown for bench/RESULTS.md: tables, target checks, and section updates
that leave other engineers' sections alone."""
from __future__ import annotations

import os
import platform
import re
from typing import Any, Iterable

Point = dict[str, Any]


def replace_section(path: str, heading: str, body: str) -> None:
    """Put `## heading` + body into the markdown file at path.

    An existing section with the same heading (up to the next `## ` line) is
    replaced in place; otherwise the section is appended. Creates the file."""
    title = f"## {heading}"
    text = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if line.rstrip() == title), None)
    block = [title, "", *body.strip("\n").split("\n"), ""]
    if start is None:
        while lines and lines[-1] == "":
            lines.pop()
        lines += ["", *block]
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = block
    with open(path, "w") as f:
        f.write("\n".join(lines).rstrip("\n") + "\n")


def table(header: list[str], rows: Iterable[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(out)


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v != v:
            return "-"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.3f}" if abs(v) < 1 else f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(next(line.split()[1] for line in f if line.startswith("MemTotal"))) * 1024
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, {mem / 2**30:.0f} GiB RAM, Linux {platform.release()}"


def versions(distributions: Iterable[str]) -> str:
    """Installed versions of the named distributions (absent ones left out)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in distributions:
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return ", ".join(out)


# -- summaries over points ------------------------------------------------------------
def best_at(points: list[Point], system: str, recall: float, key: str = "qps_single", cache: str = "warm") -> Point | None:
    """The fastest point of a system reaching the recall (the "same recall" comparison)."""
    ok = [p for p in points if p["system"] == system and p["cache"] == cache and p["recall"] >= recall and p.get(key)]
    return max(ok, key=lambda p: p[key], default=None)


def systems_of(points: list[Point]) -> list[str]:
    seen: dict[str, None] = {}
    for p in points:
        seen.setdefault(p["system"], None)
    return list(seen)


def speed_at_recall_table(points: list[Point], levels=(0.90, 0.95, 0.98), key: str = "qps_single", cache: str = "warm") -> str:
    rows = []
    for name in systems_of(points):
        pts = [p for p in points if p["system"] == name and p["cache"] == cache]
        if not pts:
            continue
        row = [name, pts[0]["ram_bpv"]]
        for level in levels:
            best = best_at(points, name, level, key, cache)
            row.append(None if best is None else f"{best[key]:,.0f} ({best['params']})")
        rows.append(row)
    return table(["system", "RAM B/vec", *[f"@{level:.2f}" for level in levels]], rows)


def candidates_table(points: list[Point], levels=(0.90, 0.95, 0.98)) -> str:
    """Fewest rerank candidates per query reaching each recall (warm points)."""
    rows = []
    for name in systems_of(points):
        pts = [p for p in points if p["system"] == name and p["cache"] == "warm" and p.get("candidates")]
        if not pts:
            continue
        row = [name]
        for level in levels:
            ok = [p["candidates"] for p in pts if p["recall"] >= level]
            row.append(min(ok) if ok else None)
        rows.append(row)
    return table(["system", *[f"candidates @{level:.2f}" for level in levels]], rows)


IN_RAM = "vectors-in-RAM"  # in the name of vecstore systems made with vectors_in_ram=True


def targets(points: list[Point], ram_cap: float = 64.0) -> list[list[Any]]:
    """Issue 7's criteria that a comparison run can check, as table rows."""

    def find(prefix: str) -> list[str]:
        return [s for s in systems_of(points) if s.startswith(prefix)]

    def best(systems: list[str], recall: float, cache: str = "warm", cap: float | None = None):
        cands = []
        for s in systems:
            for p in points:
                if p["system"] != s or p["cache"] != cache or p["recall"] < recall or not p.get("qps_single"):
                    continue
                if cap is not None and p["ram_bpv"] > cap:
                    continue
                cands.append(p)
        return max(cands, key=lambda p: p["qps_single"], default=None)

    def describe(p):
        return None if p is None else (f"{p['qps_single']:,.0f} q/s, recall {p['recall']:.3f}, {p['ram_bpv']:.0f} B/vec "
                                       f"({p['system']} {p['params']}, {p['cache']})")

    rows = []
    ours = find("vecstore")
    for cache in ("warm", "cold"):
        v = best(ours, 0.95, cache, cap=ram_cap)
        for is_peer, need, what in (
            (lambda s: s.startswith("faiss BinaryFlat"), 1.0, "single q/s >= 1.0x faiss BinaryFlat + rerank from RAM"),
            (lambda s: s.startswith("LanceDB"), 10.0, "single q/s >= 10x LanceDB IVF_PQ + refine"),
            (lambda s: s.startswith("faiss PQ") and "x4fs" in s, None, "stretch: ratio to faiss PQ 4-bit fast-scan + rerank from RAM"),
        ):
            peers = [s for s in systems_of(points) if is_peer(s)]
            # a peer reading from disk is compared in the same cache state; one serving from RAM has no cold state
            p = best(peers, 0.95, cache) or best(peers, 0.95)
            ratio = v["qps_single"] / p["qps_single"] if v and p else None
            met = None if ratio is None or need is None else ratio >= need
            rows.append([f"recall@10 >= 0.95, vecstore <= {ram_cap:.0f} B/vec ({cache} cache): {what}",
                         describe(v), describe(p), None if ratio is None else f"{ratio:.2f}x", met])
    ivf_peer = [s for s in find("faiss IVF")]
    # one row per place the rerank reads its vectors from: LMDB (a few dozen
    # bytes per vector in RAM), or a RAM copy (vectors_in_ram)
    for in_ram, where in ((False, "vectors reranked from LMDB"), (True, "vectors also kept in RAM (vectors_in_ram)")):
        ivf_ours = [s for s in ours if "IVF" in s and (IN_RAM in s) == in_ram]
        if in_ram and not ivf_ours:
            continue
        v, p = best(ivf_ours, 0.95), best(ivf_peer, 0.95)
        ratio = v["qps_single"] / p["qps_single"] if v and p else None
        met = None if ratio is None else (ratio > 1.0 and v["ram_bpv"] < p["ram_bpv"])
        rows.append([f"with IVF, recall@10 >= 0.95, {where}: more q/s than faiss IVFPQ + refine, with less RAM",
                     describe(v), describe(p), None if ratio is None else f"{ratio:.2f}x", met])
    return rows


def points_table(points: list[Point]) -> str:
    header = ["system", "params", "cache", "recall@10", "q/s single", "p50 ms", "p99 ms", "q/s batch",
              "RAM B/vec", "disk B/vec", "build s", "candidates"]
    rows = [[p["system"], p["params"], p["cache"], p["recall"], p.get("qps_single"), p.get("p50_ms"), p.get("p99_ms"),
             p.get("qps_batch"), p["ram_bpv"], p["disk_bpv"], p["build_s"], p.get("candidates")] for p in points]
    return table(header, rows)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")
