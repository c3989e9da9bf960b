"""PNG of recall@10 against queries/s, one line per system, RAM per vector in
the legend. Left: one query per call on one thread; right: batched on all
cores. vecstore's cold-cache runs are dashed."""
from __future__ import annotations

from typing import Any

Point = dict[str, Any]

_FAMILY_COLOURS = {"vecstore": "tab:red", "faiss": "tab:blue", "usearch": "tab:green",
                   "hnswlib": "tab:purple", "lancedb": "tab:orange"}
_MARKERS = "osD^v<>pXh*"


def plot(points: list[Point], path: str, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(15, 7), sharey=True)
    lines: dict[tuple[str, str], list[Point]] = {}
    for p in points:
        lines.setdefault((p["system"], p["cache"]), []).append(p)
    marker_of: dict[str, str] = {}
    for ax, key, what in ((axes[0], "qps_single", "single query, 1 thread"), (axes[1], "qps_batch", "batch, all cores")):
        for (system, cache), pts in lines.items():
            pts = sorted((p for p in pts if p.get(key)), key=lambda p: p[key])
            if not pts:
                continue
            family = pts[0]["family"]
            marker = marker_of.setdefault(system, _MARKERS[len(marker_of) % len(_MARKERS)])
            ram = pts[0]["ram_bpv"]
            ax.plot([p[key] for p in pts], [p["recall"] for p in pts],
                    linestyle="--" if cache == "cold" else "-", marker=marker, markersize=4,
                    color=_FAMILY_COLOURS.get(family, "tab:gray"), alpha=0.9,
                    label=f"{system}{' (cold cache)' if cache == 'cold' else ''} - {ram:,.0f} B/vec RAM")
        ax.set_xscale("log")
        ax.set_xlabel(f"queries/s ({what})")
        ax.grid(True, which="both", alpha=0.3)
        ax.axhline(0.95, color="black", linewidth=0.6, linestyle=":")
    axes[0].set_ylabel("recall@10")
    seen: dict[str, Any] = {}  # one legend entry per line, from either panel
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(text, handle)
    fig.legend(list(seen.values()), list(seen.keys()), loc="lower center", ncol=3, fontsize=7, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.16, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
