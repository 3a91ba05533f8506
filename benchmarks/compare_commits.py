"""Two commits side by side, in one session: the same presets run from a git worktree of each,
alternating (old, new, old, new, ...) so that both see the same machine load. Not a test.

    python benchmarks/compare_commits.py OLD NEW --preset kazdan-grid --preset kazdan-kde [--repeat 3]

Each run is a fresh subprocess with the persistent compile cache off, so compile and run times
are each commit's own; ``timing`` comes from the run's summary (run time blocked on the results).
The fastest of ``--repeat`` runs is kept per commit and preset; the ratio new / old is printed
and written with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNNER = """
import json, sys, time
begin = time.perf_counter()
import jaxcollapse as jc
try:
    result = jc.reproduce(sys.argv[1], quick=sys.argv[2] == "quick", keep=(), cache=False)
except TypeError:  # a commit from before the compile cache (it never cached)
    result = jc.reproduce(sys.argv[1], quick=sys.argv[2] == "quick", keep=())
timing = dict(result.timing, wall_s=time.perf_counter() - begin)
print(json.dumps({k: timing[k] for k in ("compile_s", "run_s", "wall_s")}))
"""


def worktree(revision: str, where: Path) -> Path:
    path = where / revision.replace("/", "_")
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(path), revision], check=True,
                   capture_output=True)
    return path


def run(tree: Path, preset: str, quick: bool) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "JAXCOLLAPSE_NO_CACHE": "1"}
    done = subprocess.run([sys.executable, "-c", RUNNER, preset, "quick" if quick else "full"], env=env, cwd=tree,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{tree.name} {preset}: {done.stderr.strip().splitlines()[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--preset", action="append", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="the presets' quick sizes")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    report = {}
    with tempfile.TemporaryDirectory() as scratch:
        trees = {rev: worktree(rev, Path(scratch)) for rev in (args.old, args.new)}
        try:
            for preset in args.preset:
                best: dict[str, dict[str, float]] = {}
                for _ in range(args.repeat):
                    for rev, tree in trees.items():
                        timing = run(tree, preset, args.quick)
                        kept = best.setdefault(rev, timing)
                        for key in kept:
                            kept[key] = min(kept[key], timing[key])
                old, new = best[args.old], best[args.new]
                report[preset] = {"old": old, "new": new, "run_ratio": new["run_s"] / old["run_s"],
                                  "compile_ratio": new["compile_s"] / old["compile_s"]}
                print(f"{preset}: run {old['run_s']:.2f}s -> {new['run_s']:.2f}s (x{report[preset]['run_ratio']:.2f}), "
                      f"compile {old['compile_s']:.2f}s -> {new['compile_s']:.2f}s "
                      f"(x{report[preset]['compile_ratio']:.2f})", flush=True)
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"old": args.old, "new": args.new, "presets": report}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
