"""/api/status reports the flash's storage budgets and the heap (issue 20), from the firmware under
the unix port: the PC flash is a folder counted against the profile's 12 MB (``pc.json``
``flash_bytes``) or ``ENERLOG_FLASH_BYTES``."""

import pytest
from test_web_api import NEW_PASSWORD, Sim

from firmware.storage import RESERVE

MB = 1024 * 1024


@pytest.mark.parametrize("flash", [None, 2 * MB])
def test_status_shows_storage_budgets_and_the_heap(tmp_path, monkeypatch, flash):
    if flash:
        monkeypatch.setenv("ENERLOG_FLASH_BYTES", str(flash))
    sim = Sim(tmp_path)
    try:
        cookie, _ = sim.login()
        assert sim.req("POST", "/api/password", {"old": "admin", "new": NEW_PASSWORD}, cookie=cookie)[0] == 200
        status, _, st = sim.req("GET", "/api/status", cookie=cookie)
        assert status == 200, st
    finally:
        sim.stop()
    storage = st["storage"]
    total = flash or 12 * MB
    assert storage["total"] == total and 0 < storage["free"] <= total, storage
    assert storage["reserve"] == RESERVE
    queue = storage["upload_queue"]
    assert queue["used"] is not None and queue["used"] <= queue["budget"]
    # The queue's share (50 %) of what is free, less the reserve: ~5.7 MB of 12 MB, ~0.8 MB of 2 MB;
    # the history's 40 %, holding its folder's block already.
    assert 0.45 * (total - RESERVE) < queue["budget"] <= 0.5 * (total - RESERVE), storage
    history = storage["history"]
    assert 0.35 * (total - RESERVE) < history["budget"] <= 0.4 * (total - RESERVE), storage
    assert history["used"] is not None and history["used"] <= history["budget"], storage
    audit = storage["audit_log"]  # the write audit log: its 5 %
    assert 0.04 * (total - RESERVE) < audit["budget"] <= 0.05 * total, storage
    assert audit["used"] is not None and audit["used"] <= audit["budget"], storage
    heap = st["heap"]
    assert heap["free"] > 0 and heap["used"] > 0
    assert heap["psram"] == 0 and "largest_free" in heap  # the PC has no PSRAM
