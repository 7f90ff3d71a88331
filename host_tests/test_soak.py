"""The soak of issue 10 (bench/soak.py) for one minute: the .mpy build on the unix port with the
heap docs/heap.md quotes, 60 simulated devices, a client reading the page's API, the broker stopped
for 15 s, samples every 10 s. Each part of the verdict is its own assert; the whole report is
printed first, so a failure shows every figure. `make soak` runs the hour.

The sweep bound here says "the three channels overlap and the bus is kept busy" (1.5 x the wire
time, which holds on a loaded 2-core machine); the precise figure (1.007-1.013 over an hour) is
what `make soak` prints."""

import pytest
from conftest import require_tool

from bench import soak

# The .mpy code sits in the heap on this port: this round's code (bus scheduler, scan, history,
# gateway, write governor, metrics, the API by area) took about 100 KB more of it; 512 and then
# 576 KB no longer held the logger (docs/heap.md). 640 KB is the heap the hour passed in before.
HEAP = "704k"
SWEEP_LIMIT = 1.5


@pytest.mark.timeout(240)
def test_one_minute_soak_on_the_quoted_heap():
    for tool in ("micropython", "socat", "mosquitto"):
        require_tool(tool)
    r = soak.soak(soak.Heap(HEAP), duration=60, outage=15, interval=10, quiet=True, sweep_limit=SWEEP_LIMIT)
    soak.report(r)
    assert not r["error"], "the run stopped early: %s" % r["error"]
    assert r["memory_errors"] == 0, "%d MemoryError in the firmware log" % r["memory_errors"]
    assert r["tracebacks"] == 0, "%d tracebacks in the firmware log" % r["tracebacks"]
    assert r["task_restarts"] == 0, "tasks restarted %s times" % r["task_restarts"]
    assert r["firmware_resets"] == 0 and r["firmware_exit"] is None, \
        "the firmware reset %d times, exited with %s" % (r["firmware_resets"], r["firmware_exit"])
    assert not r["failed"], "requests answered with an error: %s" % r["failed"]
    assert r["produced"] > 0, "no sample produced"
    assert not r["missing"], "produced %d, the broker lacks %d: %s" % (r["produced"], r["missing_count"], r["missing"])
    assert r["evicted"] == 0, "%s records evicted from the queue" % r["evicted"]
    # 99.99 % over make soak's hour; a CPU hog beside the suite costs a few timeouts (98.9 % seen)
    assert r["poll_share"] is not None and r["poll_share"] >= 0.97, \
        "good polls: %d of %d" % (r["good_polls"], r["polls"])
    for ch, ms, bound, ratio in zip(soak.CHANNELS, r["read_all_ms"], r["bound_ms"], r["sweep_ratio"]):
        assert ratio is not None, "%s: no read_all_ms once every device was online" % ch
        assert 1.0 <= ratio <= SWEEP_LIMIT, \
            "%s: reading every device takes %.0f ms, wire bound %.0f ms: %.3f x (1.0 to %.2f)" \
            % (ch, ms, bound, ratio, SWEEP_LIMIT)
    assert r["status_p95_ms"] < 500, "/api/status p95 %.1f ms" % r["status_p95_ms"]
    assert r["checks"]["no leak"], "free heap at the end %s, %s %s, slack %s bytes" \
        % (r["free_end"], r["mid_label"], r["free_mid"], r["leak_slack"])
    assert r["passed"], "failed: %s" % [k for k, ok in r["checks"].items() if not ok]
