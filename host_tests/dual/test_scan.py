"""The scan's answer to a reply from another unit (both runtimes): a stand-in channel, since the
question is only what the scan makes of the errors it is given (the whole scan against the sim's
devices is test_scan_live's)."""

from firmware import devicemap
from firmware.modbus.errors import ExceptionReply, ReplyTimeout, WrongUnit
from firmware.scan import Scan

MAPS = devicemap.load_all()


class _Channel:
    """Answers as told: ``answers`` {address: [what each request to it gets, in turn]}."""

    number, baud, parity, stop, _pending = 1, 9600, "N", 1, None

    def __init__(self, answers):
        self.answers = answers
        self.asked = []

    async def request(self, unit, function, address, quantity=1, out=None, **_):
        self.asked.append(unit)
        got = self.answers.get(unit, [])
        what = got.pop(0) if got else ReplyTimeout("no reply")
        if isinstance(what, Exception):
            raise what
        return 0


class _Poller:
    devices = []

    def __init__(self, channel):
        self.channel = channel


async def test_another_units_late_reply_is_asked_again_not_taken_for_a_garbled_device():
    ch = _Channel({5: [WrongUnit("reply from unit 3, expected 5")],  # then silence: nothing at 5
                   6: [WrongUnit("reply from unit 3, expected 6"), ExceptionReply(6, 3, 2)],  # then a device
                   7: [WrongUnit("reply from unit 9, expected 7"), WrongUnit("reply from unit 9, expected 7")]})
    scan = Scan(_Poller(ch), MAPS, 5, 7)
    await scan.run()
    assert ch.asked.count(5) == 2, ch.asked  # asked again once, then nothing: no device found there
    found = {f["address"]: f for f in scan.found}
    assert 5 not in found, found
    assert 6 in found and "problem" not in found[6], found  # it answered the second time: identified
    assert found[7]["problem"] == "answers garbled (reply from unit 9, expected 7)", found  # answers as another
