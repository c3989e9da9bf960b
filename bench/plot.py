"""PNG of recall@10 against queries/s, one colour per system, RAM per vector in
the legend. Left: one query per call on one thread; right: batched on all
cores. Every measured point is a faint marker; the line joins each system's
Pareto front (no other point of it is both faster and more accurate).
vecstore is drawn thicker; cold-cache runs are dashed."""
from __future__ import annotations

from typing import Any

Point = dict[str, Any]

_MARKERS = "osD^v<>pXh*P"


def pareto(points: list[Point], key: str) -> list[Point]:
    """Points not beaten on both recall and speed, in order of speed."""
    front, best_qps = [], -1.0
    for p in sorted(points, key=lambda p: (-p["recall"], -p[key])):
        if p[key] > best_qps:
            front.append(p)
            best_qps = p[key]
    return sorted(front, key=lambda p: p[key])


def plot(points: list[Point], path: str, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    lines: dict[tuple[str, str], list[Point]] = {}
    for p in points:
        lines.setdefault((p["system"], p["cache"]), []).append(p)
    systems = list(dict.fromkeys(s for s, _ in lines))
    ours = [s for s in systems if s.startswith("vecstore")]
    theirs = [s for s in systems if s not in ours]
    reds = plt.get_cmap("autumn")
    others = plt.get_cmap("tab20")
    colour = {s: reds(i / max(len(ours), 1) * 0.7) for i, s in enumerate(ours)}
    # strong shades first, then light ones; oranges and reds are vecstore's
    palette = [others(i) for i in [*range(0, 20, 2), *range(1, 20, 2)] if i not in (2, 3, 6, 7)]
    colour.update({s: palette[i % len(palette)] for i, s in enumerate(theirs)})
    marker = {s: _MARKERS[i % len(_MARKERS)] for i, s in enumerate(systems)}

    fig, axes = plt.subplots(1, 2, figsize=(15, 7.5), sharey=True)
    for ax, key, what in ((axes[0], "qps_single", "single query, 1 thread"), (axes[1], "qps_batch", "batch, all cores")):
        for (system, cache), pts in lines.items():
            pts = [p for p in pts if p.get(key)]
            if not pts:
                continue
            style = dict(color=colour[system], marker=marker[system])
            ax.scatter([p[key] for p in pts], [p["recall"] for p in pts], s=10, alpha=0.35, **style)
            front = pareto(pts, key)
            ax.plot([p[key] for p in front], [p["recall"] for p in front], markersize=5,
                    linestyle="--" if cache == "cold" else "-", linewidth=2.4 if system in ours else 1.3,
                    label=f"{system}{' (cold cache)' if cache == 'cold' else ''}: {pts[0]['ram_bpv']:,.0f} B/vec RAM",
                    **style)
        ax.set_xscale("log")
        ax.set_xlabel(f"queries/s ({what})")
        ax.grid(True, which="both", alpha=0.3)
        ax.axhline(0.95, color="black", linewidth=0.6, linestyle=":")
    axes[0].set_ylabel("recall@10")
    seen: dict[str, Any] = {}  # one legend entry per line, from either panel
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(text, handle)
    fig.legend(list(seen.values()), list(seen.keys()), loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.17, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
