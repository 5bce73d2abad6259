"""Benchmarks of the browser app (``nppsim gui``): start-up, Teach-page updates, concurrent users.

    python benchmarks/gui.py [--updates N] [--users 1,2,4,8] [--rounds K] [--no-browser]

Prints four plain-text tables (benchmarks/README.md, "Browser app", records the measurements):
1. start: seconds from starting ``nppsim gui --port P --no-browser`` to the first HTTP 200 at
   http://127.0.0.1:P/ (warm numba cache; the acceptance is 30 s);
2. teach, server side: the time of `TeachPage.update` (what a slider release runs: the SED
   model, the plateau curve and a CAIT run with the electroneutral solver, then new data for
   the four Bokeh panels) for N slider settings not seen before (caches cleared), and for
   settings seen before (a class moving sliders to the same places hits the run cache);
3. teach, in the browser: headless Chromium on the served app, the time from a key press on
   the FWHM slider to the new status line in the page (server and browser together);
4. users: U sessions at once (U browser tabs on one server, loopback), each moving the FWHM
   slider K times as fast as the page answers; the median and 90th percentile of the time
   from key press to updated page, and the updates per second the server delivered. "Holds U
   users" is read off as the largest U whose median stays under 1 s although every user moves
   a slider again as soon as the page has answered (a class moves sliders far less often).

Tables 3 and 4 need Playwright and /usr/bin/chromium (else they are skipped with the reason).
The browser runs on the same machine (2 cores), so tables 3-4 charge the browser's drawing to
the server: the numbers are what this one machine holds with the students' browsers on it too,
a lower bound for a server whose clients draw on their own machines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

CHROMIUM = os.environ.get("NPPSIM_CHROMIUM", "/usr/bin/chromium")
#: the status line of the Teach page, and the JavaScript that reads a Panel pane's text
STATUS = ".teach-status"
SHADOW_TEXT = (
    "e => Array.from((e.shadowRoot || e).children)"
    ".filter(c => !['STYLE', 'LINK'].includes(c.tagName)).map(c => c.innerText).join('\\n')"
)
#: a user's update counts as answered when the page shows this many updates more
UPDATE_RE = re.compile(r"update #(\d+)")
#: the median time per update (s) under which a number of users counts as held
HELD_MEDIAN_S = 1.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server() -> tuple[subprocess.Popen, str, float]:
    """Start ``nppsim gui`` in a subprocess; (process, url, seconds to the first HTTP 200)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nppsim", "gui", "--port", str(port), "--no-browser"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    while proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                if r.status == 200:
                    return proc, url, time.monotonic() - t0
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("nppsim gui exited before answering")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def stats(values: list[float]) -> str:
    v = np.array(values)
    return (
        f"{len(v):5d} {np.median(v):8.3f} {np.percentile(v, 90):8.3f} {v.min():8.3f} {v.max():8.3f}"
    )


def table_start(repeats: int) -> None:
    print("\n1. start: `nppsim gui --port P --no-browser` to the first HTTP 200 (s)")
    times = []
    for _ in range(repeats):
        proc, _url, t = start_server()
        stop_server(proc)
        times.append(t)
    print("    n   median      p90      min      max")
    print(stats(times))


def table_teach_server(n: int) -> None:
    from nppsim import demo
    from nppsim.gui.teach_page import TeachPage

    print("\n2. teach, server side: TeachPage.update (s)")
    page = TeachPage()
    rng = np.random.default_rng(1)
    settings = []
    for _ in range(n):
        settings.append(
            (
                round(float(rng.uniform(*demo.FWHM_RANGE_EV)), 2),
                round(float(rng.uniform(*demo.VACANCY_RANGE)), 2),
                float(5 * round(rng.uniform(*demo.TEMPERATURE_RANGE_K) / 5)),
                round(float(rng.uniform(*demo.LOG10_D_FOREIGN_RANGE)), 1),
            )
        )
    for label, clear in (("new settings", True), ("seen before", False)):
        times = []
        for fwhm, vac, temp, log_d in settings:
            if clear:
                for f in (demo.demo_run, demo.plateau_vs_fwhm, demo.native_mobility):
                    f.cache_clear()
            page.fwhm.value, page.vacancy.value = fwhm, vac
            page.temperature.value, page.log_d.value = temp, log_d
            times.append(page.update())
        print(f"  {label}:")
        print("    n   median      p90      min      max")
        print(stats(times))


async def _user(
    browser, url: str, rounds: int, out: list[float], ready: list[int], start: asyncio.Event
) -> None:
    context = await browser.new_context(viewport={"width": 1500, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(300_000)
    await page.goto(url)
    await page.locator(".bk-tab", has_text="Teach").click()
    status = page.locator(STATUS)
    await page.wait_for_function(f"e => ({SHADOW_TEXT})(e).includes('update #')",
                                 arg=await status.element_handle())  # fmt: skip
    handle = page.locator(".noUi-handle").first
    ready.append(1)
    await start.wait()
    for k in range(rounds):
        before = await status.evaluate(SHADOW_TEXT)
        n_before = int(UPDATE_RE.search(before).group(1))
        await handle.focus()
        t0 = time.monotonic()
        await handle.press("ArrowRight" if k % 2 == 0 else "ArrowLeft")
        await page.wait_for_function(
            f"([e, n]) => {{ const m = ({SHADOW_TEXT})(e).match(/update #(\\d+)/); "
            "return m && Number(m[1]) > n; }",
            arg=[await status.element_handle(), n_before],
        )
        out.append(time.monotonic() - t0)
    await context.close()


async def _users(url: str, n_users: int, rounds: int) -> tuple[list[float], float]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        latencies: list[float] = []
        ready: list[int] = []
        start = asyncio.Event()
        tasks = [
            asyncio.create_task(_user(browser, url, rounds, latencies, ready, start))
            for _ in range(n_users)
        ]
        while len(ready) < n_users:  # every session loaded and drawn before the clock starts
            await asyncio.sleep(0.2)
        start.set()
        t0 = time.monotonic()
        await asyncio.gather(*tasks)
        wall = time.monotonic() - t0
        await browser.close()
    return latencies, wall


def table_browser(users: list[int], rounds: int) -> None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("\n3./4. skipped: Playwright is not installed")
        return
    if not os.path.exists(CHROMIUM):
        print(f"\n3./4. skipped: no browser at {CHROMIUM}")
        return
    proc, url, _t = start_server()
    try:
        print("\n3. teach, in the browser: key press on the FWHM slider to the new status (s)")
        lat, _wall = asyncio.run(_users(url, 1, max(rounds, 8)))
        print("    n   median      p90      min      max")
        print(stats(lat))
        print("\n4. users at once: key press to updated page (s), updates per second served")
        print("users updates   median      p90      max  updates/s")
        held = 0
        for u in users:
            lat, wall = asyncio.run(_users(url, u, rounds))
            med = statistics.median(lat)
            print(
                f"{u:5d} {len(lat):7d} {med:8.3f} {np.percentile(lat, 90):8.3f} "
                f"{max(lat):8.3f} {len(lat) / wall:10.2f}"
            )
            if med < HELD_MEDIAN_S:
                held = u
        print(f"held (median < {HELD_MEDIAN_S:g} s, every user moving a slider nonstop): {held}")
    finally:
        stop_server(proc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=12, help="slider settings of table 2")
    ap.add_argument("--users", default="1,2,4,8", help="numbers of users of table 4")
    ap.add_argument("--rounds", type=int, default=6, help="slider moves per user (table 4)")
    ap.add_argument("--starts", type=int, default=2, help="server starts of table 1")
    ap.add_argument("--no-browser", action="store_true", help="skip tables 3 and 4")
    args = ap.parse_args(argv)
    print(f"nppsim gui benchmarks, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    table_start(args.starts)
    table_teach_server(args.updates)
    if not args.no_browser:
        table_browser([int(u) for u in args.users.split(",")], args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
