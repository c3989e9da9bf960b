"""Plot recall@10 against queries/s, one line per setting family, from benchmark JSON.

    python -m bench.plot_recall_qps bench/results/*.json --out bench/recall_qps.png [--batched]

Input: files written by a benchmark's --json option, each {"dataset": ..., "rows":
[{"family", "recall", "qps_single", "qps_batch", ...}, ...]} (bench_ivf_sparse.py
writes this; other kinds' benchmarks can write the same shape to join the plot).
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--out", default="bench/recall_qps.png")
    ap.add_argument("--batched", action="store_true", help="x axis: batched q/s instead of single-query q/s")
    args = ap.parse_args()
    lines: dict[str, list[tuple[float, float]]] = defaultdict(list)
    datasets = set()
    for path in args.inputs:
        with open(path) as f:
            doc = json.load(f)
        datasets.add(doc.get("dataset", "?"))
        for row in doc["rows"]:
            lines[row["family"]].append((row["qps_batch" if args.batched else "qps_single"], row["recall"]))
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for family, points in sorted(lines.items()):  # points in sweep order, as measured
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=family)
    ax.set_xscale("log")
    ax.set_xlabel(("batched" if args.batched else "single-query") + " queries/s (log scale)")
    ax.set_ylabel("recall@10")
    ax.set_title(f"recall@10 vs queries/s on {', '.join(sorted(datasets))}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
