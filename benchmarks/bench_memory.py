"""Peak memory of a long Gaussian run as the seed count grows: 10^4, 10^5 and 10^6 seeds x
1,000 generations (n = 100, replace, exact sampler, no per-seed arrays kept, quantiles over
the first 10^4 seeds). Each size runs in a fresh subprocess; its peak RSS comes from
``getrusage(RUSAGE_CHILDREN)``. Not a test.

    python benchmarks/bench_memory.py [--seeds 10000,100000,1000000] [--generations 1000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CHILD = """
import json, sys, time
import jaxcollapse as jc
begin = time.perf_counter()
r = jc.run("gaussian", {{"n": 100, "dim": 1}}, seeds={seeds}, generations={generations}, keep=(),
           quantiles=(0.05, 0.5, 0.95))
print(json.dumps({{"timing": r.timing, "var_T": float(r.mean("var")[-1]), "chunk": r.config["chunk"],
                  "wall_s": time.perf_counter() - begin}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="10000,100000,1000000")
    parser.add_argument("--generations", type=int, default=1000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    for seeds in (int(s) for s in args.seeds.split(",")):
        code = CHILD.format(seeds=seeds, generations=args.generations)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        begin = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        # ru_maxrss over children is the largest child so far: sizes run in increasing order
        row = {"seeds": seeds, "generations": args.generations, "peak_rss_mib": peak_kib / 1024,
               "peak_grew": peak_kib > before, "wall_s": time.perf_counter() - begin,
               **json.loads(done.stdout.strip().splitlines()[-1])}
        rows.append(row)
        print(f"{seeds:>9} seeds x {args.generations}: peak RSS {row['peak_rss_mib']:.0f} MiB, "
              f"compile {row['timing']['compile_s']:.1f} s, run {row['timing']['run_s']:.1f} s, "
              f"total {row['timing']['total_s']:.1f} s, E var_T {row['var_T']:.4f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
