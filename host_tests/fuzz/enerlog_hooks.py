"""Schemathesis hooks for host_tests/test_api_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

One check of our own: a refused request stores nothing. After every response the settings file
(ENERLOG_FUZZ_SETTINGS) is compared with its copy after the previous one: a 4xx answer must leave
it byte for byte as it was (but a 409 "saved, but not applied", which says it was saved). Every
response checked is written to ENERLOG_FUZZ_LOG (method, path, status), for the test's counts."""

import os

import schemathesis

_last = [None]


def _settings():
    try:
        with open(os.environ["ENERLOG_FUZZ_SETTINGS"], "rb") as f:
            return f.read()
    except OSError:
        return None


@schemathesis.check
def refused_stores_nothing(ctx, response, case):
    now = _settings()
    before, _last[0] = _last[0], now
    with open(os.environ["ENERLOG_FUZZ_LOG"], "a") as f:
        f.write("%s %s %d\n" % (case.method, case.operation.path, response.status_code))
    if before is None or not 400 <= response.status_code < 500:
        return None
    if response.status_code == 409 and b"saved, but" in response.content:
        return None
    if now != before:
        raise AssertionError("a refused request (%d) changed the stored settings" % response.status_code)
    return None
