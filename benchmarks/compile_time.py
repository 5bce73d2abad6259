"""Cold compile time of the numba kernels, per dispatcher, for one ``nppsim run``.

Runs the given case (default: the embedded default case) in a fresh process whose numba cache
(NUMBA_CACHE_DIR) is an empty temporary folder, and prints:

- the wall time of the first call (compile + solve) and of a second call in the same process
  (solve only): their difference is the compile and cache-write cost;
- per compiled function: the time spent compiling it, itself only (its callees' compilations
  subtracted) and in total, and the signatures it was compiled for (more than one signature is a
  duplicate specialisation, compiled twice).

    python benchmarks/compile_time.py                      # the default case, its solver
    python benchmarks/compile_time.py cases/lbo_k.toml --solver electroneutral
    python benchmarks/compile_time.py --warm               # the same, with the existing cache
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _measure(case_path: str | None, solver: str | None) -> dict:
    """In this process: run the case twice with a compile listener; timings in seconds."""
    from numba.core import event

    import nppsim
    from nppsim.case import default_case

    stack: list[list] = []
    records: dict[str, dict] = {}

    class Listener(event.Listener):
        def on_start(self, ev):
            stack.append([ev.data["dispatcher"], time.perf_counter(), 0.0])

        def on_end(self, ev):
            disp, t0, child = stack.pop()
            total = time.perf_counter() - t0
            name = f"{disp.py_func.__module__}.{disp.py_func.__qualname__}"
            rec = records.setdefault(name, {"self_s": 0.0, "total_s": 0.0, "n": 0})
            rec["self_s"] += total - child
            rec["total_s"] += total
            rec["n"] += 1
            if stack:
                stack[-1][2] += total

    case = nppsim.load_case(case_path) if case_path else default_case()
    listener = Listener()
    event.register("numba:compile", listener)
    t0, c0 = time.perf_counter(), time.process_time()
    nppsim.simulate(case, method=solver)
    first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
    event.unregister("numba:compile", listener)
    t0, c0 = time.perf_counter(), time.process_time()
    nppsim.simulate(case, method=solver)
    second, second_cpu = time.perf_counter() - t0, time.process_time() - c0

    import solvers.electroneutral_kernels as ek
    import solvers.kernels as k

    signatures = {}
    for mod in (k, ek):
        for attr in dir(mod):
            disp = getattr(mod, attr)
            sigs = getattr(disp, "signatures", None)
            if sigs and hasattr(disp, "py_func"):
                name = f"{disp.py_func.__module__}.{disp.py_func.__qualname__}"
                signatures[name] = [str(s) for s in sigs]
    return {
        "first_s": first,
        "second_s": second,
        "first_cpu_s": first_cpu,
        "second_cpu_s": second_cpu,
        "records": records,
        "signatures": signatures,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("case", nargs="?", help="case file (default: the embedded default case)")
    ap.add_argument("--solver", choices=("npp", "electroneutral"))
    ap.add_argument("--warm", action="store_true", help="keep the existing numba cache")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_measure(args.case, args.solver)))
        return 0
    cmd = [sys.executable, __file__, "--child"]
    if args.case:
        cmd.append(args.case)
    if args.solver:
        cmd += ["--solver", args.solver]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory(prefix="nppsim-numba-") as cache:
        if not args.warm:
            env["NUMBA_CACHE_DIR"] = cache
        t0 = time.perf_counter()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        process_s = time.perf_counter() - t0
    data = json.loads(out.strip().splitlines()[-1])
    load = os.getloadavg()[0]
    print(
        f"case: {args.case or 'default'}, solver: {args.solver or 'case'}, "
        f"cache: {'existing' if args.warm else 'empty'}, load average {load:.2f}"
    )
    print(
        f"process {process_s:.2f} s; first call {data['first_s']:.2f} s, second call "
        f"{data['second_s']:.2f} s, difference (compile) {data['first_s'] - data['second_s']:.2f} s"
    )
    compile_cpu = data["first_cpu_s"] - data["second_cpu_s"]
    print(
        f"CPU time: first call {data['first_cpu_s']:.2f} s, second call "
        f"{data['second_cpu_s']:.2f} s, difference (compile) {compile_cpu:.2f} s; "
        f"compiled functions: {sum(r['n'] for r in data['records'].values())}"
    )
    recs = sorted(data["records"].items(), key=lambda kv: -kv[1]["self_s"])
    print(f"{'function':58s} {'self_s':>7s} {'total_s':>8s} {'compiles':>8s}")
    for name, r in recs:
        print(f"{name:58s} {r['self_s']:7.2f} {r['total_s']:8.2f} {r['n']:8d}")
    print(f"{'sum of self times':58s} {sum(r['self_s'] for _, r in recs):7.2f}")
    dup = {n: s for n, s in data["signatures"].items() if len(s) > 1}
    print(f"functions with more than one signature: {len(dup)}")
    for name, sigs in dup.items():
        print(f"  {name}:")
        for s in sigs:
            print(f"    {s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
