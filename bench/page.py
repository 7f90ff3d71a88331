"""The page (manual 5.4): its files' bytes as `make build` ships them (raw and gzipped, the bar is
80 KB gzipped), and the time from navigation to the dashboard's first full render (every figure
and the server line filled) in Chromium, served by the unix-port logger with `make sim`'s plant.

Run: ``python -m bench.page`` (part of ``make bench``).
"""

import gzip
import os
import statistics
import sys
import tempfile
import time

from tools.sim.client import logged_in_sim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "bench-password-1"
RUNS = 5


def weights():
    """[(file, raw bytes, gzipped bytes)] of the page's files, gzipped as tools/build.py does."""
    sys.path[:0] = [ROOT, os.path.join(ROOT, "tools", "shims")]  # micropython.const on CPython
    from firmware.web import STATIC

    out = []
    for name in sorted(STATIC):
        with open(os.path.join(ROOT, "firmware", "www", name), "rb") as f:
            raw = f.read()
        out.append((name, len(raw), len(gzip.compress(raw, compresslevel=9, mtime=0))))
    return out


def first_render(port, cookie, runs=RUNS):
    """ms from navigation to the dashboard's figures and server line, ``runs`` fresh tabs."""
    from playwright.sync_api import sync_playwright

    exe = "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-dev-shm-usage"])
        for _ in range(runs):
            ctx = browser.new_context(viewport={"width": 390, "height": 844})
            ctx.add_cookies([{"name": "session", "value": cookie, "url": "http://127.0.0.1:%d" % port}])
            page = ctx.new_page()
            t0 = time.perf_counter()
            page.goto("http://127.0.0.1:%d/#dashboard" % port)
            page.wait_for_function("""() => { const f = document.querySelectorAll('#flows .card');
                const h = document.querySelectorAll('#health dd');
                return f.length >= 4 && h.length > 1 && h[1].textContent.length > 0; }""", timeout=20000)
            times.append((time.perf_counter() - t0) * 1000)
            ctx.close()
        browser.close()
    return times


def main():
    rows = weights()
    for name, raw, gz in rows:
        print("page file %-11s %6d bytes, %5d gzipped" % (name, raw, gz))
    print("the page: %d bytes, %d gzipped (bar: 80 KB gzipped)" % (sum(r[1] for r in rows), sum(r[2] for r in rows)))
    with tempfile.TemporaryDirectory() as d, logged_in_sim(d, PASSWORD) as client:
        deadline = time.monotonic() + 30
        while client.req("GET", "/api/status")[0]["devices"]["communicating"] < 6:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        times = first_render(client.port, client.cookie)
        print("dashboard's first full render (unix-port logger, 6 devices, Chromium at 390 px, %d fresh tabs): "
              "median %.0f ms, min %.0f, max %.0f" % (len(times), statistics.median(times), min(times), max(times)))


if __name__ == "__main__":
    main()
