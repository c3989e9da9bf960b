"""Every benchmark of issue 7, one after the other, into bench/RESULTS.md.

    python -m bench.run_all                       # ~1 h on 2 cores
    python -m bench.run_all --with-1m             # adds the 1M runs: ~2 h more, ~10 GB disk
    python -m bench.run_all --note ''             # when the machine was yours alone

Steps (each its own process, so one failure does not stop the rest):
1. `bench_hamming.py` at 1M x 384 bits, k = 10 and 160 (the kernel criterion);
2. `bench.compare` on the real dataset (all systems);
3. `bench.compare` on 1M synthetic vectors: vecstore against faiss IVFPQ +
   refine and IndexBinaryFlat + rerank (with --with-1m);
4. `bench.scale` on 100k, 300k (and 1M) synthetic vectors, and on the real set;
5. `bench.cold` on the real dataset.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


from . import report

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def steps(args) -> list[tuple[str, list[str]]]:
    note = ["--note", args.note]
    out = [
        ("hamming k=10", [os.path.join(HERE, "bench_hamming.py"), "--n", "1000000", "--bits", "384", "--k", "10"]),
        ("hamming k=160", [os.path.join(HERE, "bench_hamming.py"), "--n", "1000000", "--bits", "384", "--k", "160"]),
        ("compare real", ["-m", "bench.compare", "--dataset", args.dataset, *note]),
    ]
    if args.with_1m:
        out.append(("compare 1M", ["-m", "bench.compare", "--synthetic", "1000000", "--systems",
                                   "vecstore (binary|.*IVF)|faiss (IVF|BinaryFlat)", *note]))
    sizes = "100000,300000,1000000" if args.with_1m else "100000,300000"
    out += [
        ("scale synthetic", ["-m", "bench.scale", "--sizes", sizes, *note]),
        ("scale real", ["-m", "bench.scale", "--dataset", args.dataset, "--sizes", "100000", *note]),
        ("cold reads", ["-m", "bench.cold", "--dataset", args.dataset, *note]),
    ]
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default=os.path.join(ROOT, "..", "shared", "datasets", "pypi-minilm"))
    ap.add_argument("--with-1m", action="store_true")
    ap.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--note", default="Measured while the machine was shared with other engineers: timings are indicative only.")
    args = ap.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    hamming, status = [], []
    for name, cmd in steps(args):
        print(f"== {name}: python {' '.join(cmd)}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        if name.startswith("hamming"):
            done = subprocess.run([sys.executable, *cmd], cwd=ROOT, env=env, capture_output=True, text=True)
            hamming.append(f"```\n{done.stdout.strip()}\n{done.stderr.strip()[-2000:] if done.returncode else ''}```")
        else:
            done = subprocess.run([sys.executable, *cmd], cwd=ROOT, env=env)
        status.append([name, "ok" if done.returncode == 0 else f"FAILED (exit {done.returncode})",
                       time.perf_counter() - t0])
    body = ([f"**{args.note}**", ""] if args.note else []) + [
        "`python -m bench.bench_hamming --n 1000000 --bits 384 --k 10` and `--k 160`, as run by "
        "`python -m bench.run_all`; criterion of issue 7: at least 1.1x faiss for single queries and 2x "
        "for batches of 64; the memory-bandwidth floor is printed with the figures.", "",
        *hamming, "", "Steps of this run:", "", report.table(["step", "status", "seconds"], status), ""]
    report.replace_section(args.results, "Hamming scan and run summary (bench.run_all)", body)


if __name__ == "__main__":
    main()
