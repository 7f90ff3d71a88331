"""Modbus TCP gateway over the three RS485 buses (manual 2.3, "monitor, set slave devices"): a
second master (an energy manager, Home Assistant, the vendor's PC tool) reaches the devices
through the logger instead of colliding with it on the wire.

- The unit id is the device's RS485 address: addresses are unique across the channels (manual
  4.4), so the address names the channel too. A unit that is not configured answers exception
  0x0A (gateway path unavailable).
- A read of registers the device's poll keeps, while they are live (at most two poll intervals
  old), is answered from the poll data without touching the bus; any other read is sent on the device's channel as a
  client's request (``Channel.request``), and its answer passed on: the device's own exception,
  or 0x0B (target failed to respond) when it does not answer.
- Writes (functions 5, 6, 15, 16) are refused with exception 0x01 while the ``writes`` setting is
  off. On, 6 and 16 go to the write governor (``firmware/writes.py``), whose refusals become the
  exceptions of ``EXCEPTION_BY_CODE``: 0x02 for a register that is not a writable point (coils
  never are), 0x03 outside the map's min/max, 0x06 (busy) written too recently; 0x0B when the
  device does not answer, 0x04 when it holds another value after the write, the device's own
  exception passed on. A write of 16 registers is checked whole before any is written.
- Clients: only addresses the allow-list admits (empty: any), at most ``max_clients`` at once;
  a connection idle for ``idle_ms`` is closed, and one whose bytes cannot be framed too.
"""

import asyncio

from firmware.compat import ticks_ms, wait_for_ms
from firmware.fields import parse_ip, split_list, subnet
from firmware.modbus import tcp
from firmware.modbus.errors import ExceptionReply, ModbusError
from firmware.poller import LIVE
from firmware.writes import WriteError

SERVER_FAILURE = 4
SERVER_BUSY = 6
# The write governor's refusals as Modbus exceptions (the spec's codes).
EXCEPTION_BY_CODE = {"no_device": tcp.PATH_UNAVAILABLE, "not_writable": tcp.ILLEGAL_ADDRESS,
                     "no_limits": tcp.ILLEGAL_ADDRESS, "range": tcp.ILLEGAL_VALUE, "step": tcp.ILLEGAL_VALUE,
                     "too_soon": SERVER_BUSY, "no_answer": tcp.TARGET_FAILED,
                     "read_back_differs": SERVER_FAILURE}


def rules(text):
    """The allow-list of the ``clients`` setting ("a.b.c.d, a.b.c.d/n, ..."): (network, mask) pairs."""
    return [subnet(x) for x in split_list(text)]


WRITES_OFF = "writes are off (gateway.writes)"


def allowed(address, rules):
    """Whether client ``address`` (dotted IPv4) passes the allow-list ``rules``; an empty list lets
    every client in."""
    if not rules:
        return True
    a = parse_ip(address)
    return a is not None and any(a & mask == net for net, mask in rules)


def peer_address(peername):
    """The dotted IPv4 address of a stream's peer: CPython and lwIP give ``(host, port)``, the
    MicroPython unix port the raw ``sockaddr_in`` bytes (family, port, then the address)."""
    if isinstance(peername, (bytes, bytearray)):
        return "%d.%d.%d.%d" % tuple(peername[4:8])
    return peername[0]


def cached(device, function, address, quantity, now_ms):
    """The data bytes of a read the device's last poll answers (its kept registers, while they are
    live: at most two poll intervals old, as the page and the API count it), or None.

    Not one interval: the next poll's values come a poll's duration (0.6 s for an inverter at
    9600 baud) after it is due, and later still on a busy bus; each read forwarded meanwhile takes
    the bus from the poll that would refresh them (bench/gateway.py measured it)."""
    dmap = device.map
    if function not in (3, 4) or not dmap or device.quality(now_ms) != LIVE:
        return None
    for i, (fn, first, count) in enumerate(dmap.blocks):
        if fn != function or not first <= address or address + quantity > first + count:
            continue
        out = bytearray(2 * quantity)
        for k in range(quantity):
            b = 2 * (address + k - first)
            for src, dst, n in dmap.runs[i]:
                if src <= b < src + n:
                    out[2 * k : 2 * k + 2] = device.raw[dst + b - src : dst + b - src + 2]
                    break
            else:
                return None  # a register the poll reads but does not keep
        return bytes(out)
    return None


def _read_pdu(function, data):
    return bytes((function, len(data))) + data


def _pack_bits(bits):
    out = bytearray((len(bits) + 7) // 8)
    for i, b in enumerate(bits):
        if b:
            out[i >> 3] |= 1 << (i & 7)
    return bytes(out)


class Gateway:
    """The Modbus TCP server; ``route(unit)`` gives ``(channel, device)`` or ``(None, None)``."""

    idle_ms = 60000

    def __init__(self, config, route, log, governor=None):
        self.route = route
        self.governor = governor  # writes.Governor: without one, writes are refused as when off
        self.log = log
        self.clients = 0
        # One client's request on each bus at a time: a client goes before due polls (the
        # scheduler's USER), so clients queued back to back would keep the pollers off the bus
        # for as long as they keep asking; one at a time, a poll gets the bus between two.
        self._forwarding = {}
        self._changed = asyncio.Event()
        self.stats = {"requests": 0, "cached": 0, "forwarded": 0, "writes": 0, "exceptions": 0, "refused_clients": 0,
                      "closed_bad_frames": 0, "closed_idle": 0}
        self.configure(config)

    def configure(self, config):
        """Takes the ``gateway`` settings; a running server restarts with them."""
        self.config = config
        self.rules = rules(config["clients"])
        self._changed.set()

    async def run(self, host="0.0.0.0"):
        """Serves while the settings say ``enabled``, again on each change of them."""
        while True:
            self._changed = asyncio.Event()
            server = None
            if self.config["enabled"]:
                server = await asyncio.start_server(self._client, host, self.config["port"])
                self.log.info("gateway: Modbus TCP on port %d, writes %s" % (
                    self.config["port"], "on" if self.config["writes"] else "off"))
            await self._changed.wait()
            if server:
                server.close()
                await server.wait_closed()

    async def _client(self, reader, writer):
        peer = peer_address(writer.get_extra_info("peername"))
        if not allowed(peer, self.rules) or self.clients >= self.config["max_clients"]:
            self.stats["refused_clients"] += 1
            self.log.warning("gateway: %s refused (%s)" % (peer, "not on the allow-list"
                                                        if not allowed(peer, self.rules) else "too many clients"))
            await _close(writer)
            return
        self.clients += 1
        out = bytearray(tcp.MAX_ADU)
        try:
            while True:
                head = await wait_for_ms(reader.readexactly(tcp.HEADER), self.idle_ms)
                tid, length, unit = tcp.header(head)
                pdu = await wait_for_ms(reader.readexactly(length - 1), self.idle_ms)
                n = await self._answer(out, tid, unit, pdu, peer)
                writer.write(out[:n])
                await writer.drain()
        except tcp.StreamError as exc:
            self.stats["closed_bad_frames"] += 1
            self.log.warning("gateway: %s closed: %s" % (peer, exc))
        except asyncio.TimeoutError:
            self.stats["closed_idle"] += 1
        except (OSError, EOFError):
            pass  # the client went away (EOFError: CPython's IncompleteReadError)
        finally:
            self.clients -= 1
            await _close(writer)

    async def _answer(self, out, tid, unit, pdu, peer="?"):
        """One request to one answer in ``out``; returns its length."""
        self.stats["requests"] += 1
        fn = pdu[0] if pdu else 0
        try:
            function, address, q, values = tcp.request(pdu)
            writing = function in (5, 6, 15, 16)
            channel, device = self.route(unit)
            if writing and not (self.config["writes"] and self.governor):
                if self.governor and channel is not None:
                    self.governor.refused_off("TCP " + peer, device.channel, device.address, WRITES_OFF,
                                              register=address, value=q if function == 6 else None)
                raise tcp.PduError(tcp.ILLEGAL_FUNCTION, WRITES_OFF)
            if channel is None:
                raise tcp.PduError(tcp.PATH_UNAVAILABLE, "unit %d is not a configured device" % unit)
            if writing:
                return await self._write(out, tid, unit, pdu, (function, address, q, values), device, peer)
            data = cached(device, function, address, q, ticks_ms())
            if data is not None:
                self.stats["cached"] += 1
                return tcp.answer(out, tid, unit, _read_pdu(function, data))
            self.stats["forwarded"] += 1
            lock = self._forwarding.get(channel.number)
            if lock is None:
                lock = self._forwarding[channel.number] = asyncio.Lock()
            async with lock:
                got = await channel.request(unit, function, address, q)
            data = b"".join(bytes((r >> 8, r & 0xFF)) for r in got) if function in (3, 4) else _pack_bits(got)
            return tcp.answer(out, tid, unit, _read_pdu(function, data))
        except tcp.PduError as exc:
            code = exc.code
        except WriteError as exc:
            code = exc.exception or EXCEPTION_BY_CODE.get(exc.code, SERVER_FAILURE)
        except ExceptionReply as exc:
            code = exc.code
        except ModbusError:
            code = tcp.TARGET_FAILED
        self.stats["exceptions"] += 1
        return tcp.exception(out, tid, unit, fn, code)

    async def _write(self, out, tid, unit, pdu, request, device, peer):
        """A write (``request``: ``tcp.request``'s tuple) through the governor; the answer echoes
        the request (6: all of it; 16: the address and the count)."""
        function, address, q, values = request
        if function in (5, 15):
            raise tcp.PduError(tcp.ILLEGAL_ADDRESS, "no coil is a writable point")
        self.stats["writes"] += 1
        await self.governor.set_registers(device, address, [q] if function == 6 else values, "TCP " + peer)
        return tcp.answer(out, tid, unit, bytes(pdu[:5]))


async def _close(writer):
    try:
        writer.close()
        await writer.wait_closed()
    except OSError:
        pass
