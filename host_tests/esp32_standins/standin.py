"""The record the stand-ins for ``machine``, ``network`` and ``esp32`` keep (ESP32 adapter tests).

Every call is kept as it was made: (name, positional args, keyword args). The test checks each one
against the pinned micropython-esp32-stubs (host_tests/test_esp32_adapter.py): a call the real
module would refuse fails there, even though these stand-ins take anything.
"""

CALLS = []


def record(name, args, kwargs):
    CALLS.append((name, list(args), dict(kwargs)))


class Recorded:
    """Base of the stand-in classes: ``_name`` is the class's name in the stubs, e.g. machine.Pin."""

    _name = ""

    def _rec(self, method, args, kwargs):
        record(self._name + "." + method, args, kwargs)
