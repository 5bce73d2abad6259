"""Table 5 of benchmarks/run.py: a fresh `nppsim run` process, warm and empty numba cache."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import CASE_PATH, format_table


def cli_timing(repeats: int, cold: bool, values: dict) -> dict:
    """Table 5: wall time of a fresh `nppsim run cases/lbo_k.toml -o tmp.h5 --quiet` process."""
    exe = shutil.which("nppsim")
    cmd = [exe] if exe else [sys.executable, "-m", "nppsim"]
    sets = [a for k, v in values.items() for a in ("--set", f"{k}={v}")]
    out = {"command": " ".join(["nppsim", "run", "cases/lbo_k.toml", "-o", "tmp.h5", "--quiet"])}
    if sets:
        out["command"] += " " + " ".join(sets)

    def once(env: dict) -> float:
        with tempfile.TemporaryDirectory(prefix="nppsim-bench-") as tmp:
            t0 = time.perf_counter()
            subprocess.run(
                [*cmd, "run", str(CASE_PATH), "-o", str(Path(tmp) / "tmp.h5"), "--quiet", *sets],
                env=env,
                cwd=tmp,
                check=True,
                capture_output=True,
            )
            return time.perf_counter() - t0

    once(dict(os.environ))  # makes sure the on-disk cache is warm
    warm = [once(dict(os.environ)) for _ in range(repeats)]
    out["warm_s"] = warm
    out["warm_median_s"] = statistics.median(warm)
    if cold:
        with tempfile.TemporaryDirectory(prefix="nppsim-numba-") as cache:
            out["cold_s"] = once(dict(os.environ, NUMBA_CACHE_DIR=cache))
    return out


def report_cli(results: dict) -> list[str]:
    """The lines of table 5."""
    out: list[str] = []
    c = results["cli"]
    out += ["", f"5. Fresh process: {c['command']}", "   (wall time including imports and I/O)"]
    rows = [["warm cache", len(c["warm_s"]), c["warm_median_s"], min(c["warm_s"]),
             max(c["warm_s"])]]  # fmt: skip
    if "cold_s" in c:
        rows.append(["empty NUMBA_CACHE_DIR", 1, c["cold_s"], c["cold_s"], c["cold_s"]])
    else:
        rows.append(["empty NUMBA_CACHE_DIR", 0, "skipped (--quick)", "-", "-"])
    out.append(format_table(["numba cache", "runs", "median_s", "min_s", "max_s"], rows))
    return out
