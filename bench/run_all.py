r"""Runs the benchmarks of BENCHMARKS.md one after another (`make bench`).

    python -m bench.run_all [--only bench_decode,bench_model] [--list]

Each benchmark runs as its own `python -m bench.NAME` process with its default flags
(PYTHONHASHSEED=0), its output passed through; a benchmark whose inputs need the
training data build (docs/TRAINING.md) is skipped, saying which input is missing, when
that input is absent. Ends with one line per benchmark: ok, FAILED (exit status) or
skipped, and its wall time; exits 1 if any failed. Hours on 2 cores with every input
present; copy the figures into BENCHMARKS.md as ratios measured in one run.
"""
import argparse
import os
import subprocess
import sys
import time

# (module, input it needs or None), cheapest first.
BENCHMARKS = (
    ("bench_decode", None),
    ("bench_pipeline", None),
    ("bench_segments", None),
    ("bench_input_memory", None),
    ("bench_model", None),
    ("bench_bdrate", "out/tiny_data/sources_holdout.csv"),
    ("bench_cross_resolution", "out/holdout_big/sources/masters"),
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="",
                        help="Comma-separated benchmark names (default: all).")
    parser.add_argument("--list", action="store_true", help="List the benchmarks and exit.")
    args = parser.parse_args(argv)
    names = [n for n, _ in BENCHMARKS]
    chosen = [n for n in args.only.split(",") if n] or names
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; one of {names}")
    if args.list:
        for name, needs in BENCHMARKS:
            print(name + (f" (needs {needs})" if needs else ""))
        return 0
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.setdefault("KERAS_BACKEND", "jax")
    results = []
    for name, needs in BENCHMARKS:
        if name not in chosen:
            continue
        if needs and not os.path.exists(needs):
            results.append((name, f"skipped: needs {needs} (docs/TRAINING.md data build)", 0.0))
            continue
        print(f"\n=== {name} ===", flush=True)
        t0 = time.time()
        rc = subprocess.call([sys.executable, "-m", f"bench.{name}"], env=env)
        results.append((name, "ok" if rc == 0 else f"FAILED (exit {rc})", time.time() - t0))
    print("\n| benchmark | result | wall s |\n|---|---|---:|")
    for name, result, wall in results:
        print(f"| {name} | {result} | {wall:.0f} |")
    return 1 if any(r.startswith("FAILED") for _, r, _ in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
