"""Refusals are always valid UTF-8 JSON: what they echo of the client's text is made sendable."""

import json

from firmware.api.common import error, sendable


def _utf8_ok(data):
    # MicroPython's decode lets surrogates (ED A0..BF) through: checked by hand on both runtimes.
    i = data.find(b"\xed")
    while i >= 0:
        assert data[i + 1] < 0xA0, data
        i = data.find(b"\xed", i + 1)
    data.decode()


def test_an_unknown_key_in_surrogate_escapes_is_sent_as_the_escape():
    for body, key in (('{"\\ud800x": 1}', "\\ud800x"), ('{"a\\ud83d\\ude00b": 1}', None),
                      ('{"\\udfff\\udc00": 1}', "\\udfff\\udc00")):
        name = list(json.loads(body))[0]
        answer, status, headers = error(400, "unknown field", name)
        out = json.dumps(answer).encode()
        _utf8_ok(out)
        field = json.loads(out)["field"]
        if key is not None:
            assert field == key, field
        else:  # CPython joins the pair into one character; MicroPython keeps two surrogates
            assert field in ("a\U0001f600b", "a\\ud83d\\ude00b"), field
        assert status == 400 and headers["Cache-Control"] == "no-store"


def test_other_text_is_left_as_it_is():
    for text in ("unknown field", "network.ip", "\u00b0C", "a\u00e9\u4e2d\U0001f600", ""):
        assert sendable(text) is text
    assert sendable(None) is None and sendable(5) == 5
    assert sendable("x\udbff") == "x\\udbff"
