# Modbus master scenarios against pymodbus slaves behind host_tests/modbus_relay.py.
# Runs on CPython (imported by the test) and under the MicroPython unix port:
#   micropython modbus_scenarios.py <pty path>
# prints one line per scenario: "@@SCENARIO <name> ok|fail <detail>".
import asyncio
import sys

from firmware.compat import ticks_add, ticks_diff, ticks_ms, ticks_us
from firmware.hw.pc import Rs485
from firmware.modbus.channel import Channel
from firmware.modbus.errors import CrcError, ExceptionReply, FrameError, ReplyTimeout, RequestError


def reg(unit, address):  # tools/sim/line.py's register_pattern, restated independently
    return (unit * 1000 + address * 7) & 0xFFFF


def coil(unit, address):
    return (address * unit) % 3 == 0


class Failed(Exception):
    pass


def expect(cond, detail):
    if not cond:
        raise Failed(detail)


async def expect_error(ch, err, unit, detail):
    try:
        await ch.request(unit, 3, 0, 10)
    except err as exc:
        return exc
    except Exception as exc:
        raise Failed("%s: raised %r, expected %s" % (detail, exc, err.__name__))
    raise Failed("%s: no error, expected %s" % (detail, err.__name__))


async def next_succeeds(ch):
    got = await ch.request(1, 3, 0, 10)
    expect(got == [reg(1, a) for a in range(10)], "the next transaction failed: %r" % got)


async def read_holding(ch):
    got = await ch.request(1, 3, 0, 10)
    expect(got == [reg(1, a) for a in range(10)], got)


async def read_holding_full(ch):
    got = await ch.request(2, 3, 100, 125)
    expect(got == [reg(2, 100 + a) for a in range(125)], got[:4])


async def read_input_full(ch):
    got = await ch.request(3, 4, 0, 125)
    expect(got == [reg(3, a) ^ 0xFFFF for a in range(125)], got[:4])


async def read_coils_full(ch):
    got = await ch.request(4, 1, 0, 2000)
    expect(got == [coil(4, a) for a in range(2000)], got[:8])


async def read_discrete_full(ch):
    got = await ch.request(5, 2, 0, 2000)
    expect(got == [not coil(5, a) for a in range(2000)], got[:8])


async def raw_into_buffer(ch):
    out = bytearray(250)
    n = await ch.request(1, 3, 0, 125, out=out)
    expect(n == 250 and out[0] == reg(1, 0) >> 8 and out[1] == reg(1, 0) & 0xFF, (n, out[:4]))


async def write_single_coil(ch):
    await ch.request(6, 5, 7, 0)
    await ch.request(6, 5, 8, 1)
    got = await ch.request(6, 1, 7, 2)
    expect(got == [False, True], got)


async def write_single_register(ch):
    await ch.request(6, 6, 42, 0xBEEF)
    expect(await ch.request(6, 3, 42, 1) == [0xBEEF], "read back")


async def write_coils_full(ch):
    values = [(a % 5) == 1 for a in range(1968)]
    await ch.request(7, 15, 0, values=values)
    expect(await ch.request(7, 1, 0, 1968) == values, "read back")


async def write_registers_full(ch):
    values = [(a * 257) & 0xFFFF for a in range(123)]
    await ch.request(8, 16, 100, values=values)
    expect(await ch.request(8, 3, 100, 123) == values, "read back")


async def exception_reply(ch):
    try:
        await ch.request(1, 3, 240, 20)  # past the slave's 250 registers
    except ExceptionReply as exc:
        expect(exc.code == 2 and "illegal data address" in str(exc), str(exc))
    else:
        raise Failed("no exception reply")
    await next_succeeds(ch)


async def request_limits(ch):
    before = ch.device(1).requests
    for args in ((3, 0, 126), (4, 0, 0), (1, 0, 2001), (3, 65500, 100)):
        try:
            await ch.request(1, *args)
        except RequestError:
            pass
        else:
            raise Failed("accepted %r" % (args,))
    for kwargs in ({"values": [0] * 124}, {"values": [70000]}):
        try:
            await ch.request(1, 16, 0, **kwargs)
        except RequestError:
            pass
        else:
            raise Failed("accepted %r" % (kwargs,))
    expect(ch.device(1).requests == before, "an invalid request reached the bus")


async def silent_device(ch):
    t0 = ticks_ms()
    exc = await expect_error(ch, ReplyTimeout, 11, "silent")
    took = ticks_diff(ticks_ms(), t0)
    expect(ch.device(11).timeouts == 2, "timeouts %d, expected 2 (one retry)" % ch.device(11).timeouts)
    # two tries of the timeout each, not more (a timeout not kept would take seconds); a loaded
    # 2-core machine adds to it (1,400 ms seen against 1,000)
    expect(took < 2 * ch.response_timeout_ms + 800, "took %d ms" % took)
    expect("no reply" in str(exc), str(exc))
    await next_succeeds(ch)


async def bad_crc(ch):
    await expect_error(ch, CrcError, 12, "bad crc")
    expect(ch.device(12).crc_errors == 2, ch.device(12).as_dict())
    await next_succeeds(ch)


async def truncated(ch):
    exc = await expect_error(ch, FrameError, 13, "truncated")
    expect("truncated" in str(exc), str(exc))
    await next_succeeds(ch)


async def extra_bytes(ch):
    exc = await expect_error(ch, FrameError, 14, "extra bytes")
    expect("expected" in str(exc), str(exc))
    await next_succeeds(ch)


async def wrong_unit(ch):
    exc = await expect_error(ch, FrameError, 15, "wrong unit")
    expect("from unit 115, expected 15" in str(exc), str(exc))
    expect(ch.device(15).successes == 0 and ch.device(15).frame_errors == 2, ch.device(15).as_dict())
    await next_succeeds(ch)


async def wrong_function(ch):
    exc = await expect_error(ch, FrameError, 16, "wrong function")
    expect("function 4, expected 3" in str(exc), str(exc))
    await next_succeeds(ch)


async def noise_between_frames(ch):
    got = await ch.request(17, 3, 0, 10)
    expect(got == [reg(17, a) for a in range(10)], got)
    # the line idles; the noise arrives now (36 ms after the reply, from the relay's Python thread,
    # which a loaded machine can hold up: 0.3 s keeps it between the frames, as the scenario means)
    await asyncio.sleep(0.3)
    errors = ch.device(1).frame_errors
    for _ in range(3):
        await next_succeeds(ch)
    expect(ch.device(1).frame_errors == errors, "the noise reached a reply: %r" % ch.device(1).as_dict())


async def slow_device(ch):
    got = await ch.request(18, 3, 0, 10)  # 300 ms is inside the 500 ms response timeout
    expect(got == [reg(18, a) for a in range(10)], got)
    expect(ch.device(18).last_latency_ms >= 300, ch.device(18).as_dict())


async def line_settings(ch):
    for baud, parity in ((1000, "N"), (9600, "X"), (230400, "N")):
        try:
            ch.configure(baud, parity)
        except RequestError as exc:
            expect(str(baud) in str(exc) or parity in str(exc), str(exc))
        else:
            raise Failed("accepted %r" % ((baud, parity),))
    expect(ch.baud == 9600 and ch.parity == "N", "a rejected setting changed the line")
    ch.configure(19200, "E")
    expect(ch.port.char_us == 573, "19200 8E1: 11 bits a character, got %d us" % ch.port.char_us)
    await next_succeeds(ch)
    ch.configure(115200, "O")
    expect(ch.port.char_us == 96 and ch.gap_ms == 13, (ch.port.char_us, ch.gap_ms))
    await next_succeeds(ch)
    ch.configure(9600, "N", 2)
    expect(ch.port.char_us == 1146 and ch.stop == 2, "9600 8N2: 11 bits, got %d us" % ch.port.char_us)
    await next_succeeds(ch)
    ch.configure(9600)
    expect(ch.port.char_us == 1042 and ch.parity == "N" and ch.stop == 1, ch.port.char_us)


async def concurrent_requests(ch):
    # Two callers at once on one bus: each gets its own device's answer, one after the other.
    a, b = await asyncio.gather(ch.request(1, 3, 0, 2), ch.request(2, 3, 0, 4))
    expect(a == [reg(1, 0), reg(1, 1)] and b == [reg(2, x) for x in range(4)], (a, b))


async def line_change_mid_transaction(ch):
    task = asyncio.create_task(ch.request(3, 3, 0, 125))
    await asyncio.sleep(0.02)  # the request is on the wire now
    ch.configure(19200, "N")
    expect(ch.baud == 9600, "the line changed under a running transaction")
    got = await task
    expect(got == [reg(3, a) for a in range(125)], got[:3])
    await next_succeeds(ch)
    expect(ch.baud == 19200 and ch.port.char_us == 521, (ch.baud, ch.port.char_us))
    ch.configure(9600)
    expect(ch.baud == 9600, ch.baud)


async def long_idle_line(ch):
    # After a long idle spell the tick counter wraps (about 9 minutes of ticks_us on the board):
    # the line counts as quiet, the request goes out at once. Read wrongly, the wrapped counter
    # would hold the request for minutes (half the tick period); the sim's reply on a loaded PC
    # takes up to ~0.5 s (543 ms seen), so 1.5 s tells the two apart.
    ch._last = ticks_add(ticks_us(), -(1 << 29) - 5000)
    t0 = ticks_ms()
    await next_succeeds(ch)
    expect(ticks_diff(ticks_ms(), t0) < 1500, "waited %d ms" % ticks_diff(ticks_ms(), t0))


async def stats_counted(ch):
    st = ch.device(1).as_dict()
    # every request counted once, as a success or as what went wrong (a loaded PC may time one out)
    failed = st["exceptions"] + st["timeouts"] + st["crc_errors"] + st["frame_errors"]
    expect(st["requests"] == st["successes"] + failed and st["successes"] > 10, st)
    expect(st["exceptions"] == 1, st)  # the exception_reply scenario
    expect(st["last_latency_ms"] is not None, st)


SCENARIOS = [read_holding, read_holding_full, read_input_full, read_coils_full, read_discrete_full,
             raw_into_buffer, write_single_coil, write_single_register, write_coils_full,
             write_registers_full, exception_reply, request_limits, silent_device, bad_crc, truncated,
             extra_bytes, wrong_unit, wrong_function, noise_between_frames, slow_device, line_settings,
             concurrent_requests, line_change_mid_transaction, long_idle_line, stats_counted]
NAMES = [s.__name__ for s in SCENARIOS]
# The largest frames wait longer for their reply: the Python slave behind a Python relay can take
# more than a device's 500 ms on a loaded 2-core machine; timeouts are other scenarios' subject.
ROOMY = (read_holding_full, read_input_full, read_coils_full, read_discrete_full, write_coils_full,
         write_registers_full, long_idle_line)


async def run_all(path, report):
    ch = Channel(Rs485(path), 1)
    usual = ch.response_timeout_ms
    for scenario in SCENARIOS:
        ch.response_timeout_ms = 2000 if scenario in ROOMY else usual
        try:
            await scenario(ch)
            report(scenario.__name__, True, "")
        except Exception as exc:
            report(scenario.__name__, False, "%r" % (exc,))
    ch.response_timeout_ms = usual


def _print(name, ok, detail):
    print("@@SCENARIO %s %s %s" % (name, "ok" if ok else "fail", detail))


if __name__ == "__main__":
    asyncio.run(run_all(sys.argv[1], _print))
