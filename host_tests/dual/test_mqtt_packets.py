"""MQTT 3.1.1 packets against bytes worked out by hand from the specification."""

import asyncio
import random

from support import raises

from firmware import mqtt


def test_remaining_length_matches_the_spec_table():
    # Spec 2.2.3, table 2.4: the edges of 1, 2, 3 and 4 byte lengths.
    table = [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16383, b"\xff\x7f"),
             (16384, b"\x80\x80\x01"), (2097151, b"\xff\xff\x7f"),
             (2097152, b"\x80\x80\x80\x01"), (268435455, b"\xff\xff\xff\x7f")]
    for n, raw in table:
        assert mqtt.enc_len(n) == raw, (n, mqtt.enc_len(n))
    raises(ValueError, mqtt.enc_len, 268435456)


def test_utf8_string_has_a_length_prefix():
    assert mqtt.enc_str("a/b") == b"\x00\x03a/b"
    assert mqtt.enc_str("\u00e9") == b"\x00\x02\xc3\xa9"  # length in bytes, not characters


def test_minimal_connect():
    # 10 0F | 00 04 "MQTT" | level 4 | flags 02 (clean session) | keep-alive 60 | 00 03 "abc"
    assert mqtt.connect_packet("abc", 60) == (
        b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x3c\x00\x03abc")


def test_connect_with_credentials_and_retained_will():
    # flags: user 80 | password 40 | will retain 20 | will QoS 1 08 | will 04 | clean 02 = EE
    raw = mqtt.connect_packet("abc", 30, "u", "p", ("t/s", b"offline", 1, True))
    assert raw == (b"\x10\x23\x00\x04MQTT\x04\xee\x00\x1e\x00\x03abc\x00\x03t/s"
                   b"\x00\x07offline\x00\x01u\x00\x01p"), raw
    # 10 bytes of variable header + 3 (id) + 3 (will topic) + 3 (will message) = 0x13
    raw = mqtt.connect_packet("c", 0, clean=False, will=("w", b"x", 0, False))
    assert raw == b"\x10\x13\x00\x04MQTT\x04\x04\x00\x00\x00\x01c\x00\x01w\x00\x01x", raw


def test_publish_qos0_and_qos1():
    # A PUBLISH up to its payload, which follows it on the wire.
    assert mqtt.publish_head("a/b", 2) == b"\x30\x07\x00\x03a/b"
    assert mqtt.publish_head("a/b", 2, retain=True) == b"\x31\x07\x00\x03a/b"
    # QoS 1: 32 | length 9 | topic | packet id 000A | payload
    assert mqtt.publish_head("a/b", 2, qos=1, pid=10) == b"\x32\x09\x00\x03a/b\x00\x0a"
    assert mqtt.publish_head("a", 0, qos=1, pid=1, dup=True) == b"\x3a\x05\x00\x01a\x00\x01"
    assert mqtt.publish_head("t", 200)[:3] == b"\x30\xcb\x01"  # 203 = 0x4B + 1 * 128


def test_parse_publish():
    assert mqtt.parse_publish(0x32, b"\x00\x03a/b\x00\x0ahi") == ("a/b", b"hi", 1, False, 10)
    assert mqtt.parse_publish(0x31, b"\x00\x01tpayload") == ("t", b"payload", 0, True, 0)


def test_subscribe_puback_ping_disconnect():
    assert mqtt.subscribe_packet(1, [("cmd/#", 1)]) == b"\x82\x0a\x00\x01\x00\x05cmd/#\x01"
    assert mqtt.puback_packet(0x1234) == b"\x40\x02\x12\x34"
    assert mqtt.PINGREQ == b"\xc0\x00"
    assert mqtt.DISCONNECT == b"\xe0\x00"



# -- the client against a scripted in-process server (both runtimes have start_server) --------


async def _serve(answer):
    """A loopback server that replies ``answer(packet)`` to each packet; (server, port, seen)."""
    seen = []

    async def handle(r, w):
        try:
            while True:
                first = await r.readexactly(1)
                n = shift = 0
                while True:
                    b = (await r.readexactly(1))[0]
                    n |= (b & 0x7F) << shift
                    shift += 7
                    if not b & 0x80:
                        break
                pkt = first + mqtt.enc_len(n) + (await r.readexactly(n) if n else b"")
                seen.append(pkt)
                out = answer(pkt)
                if out:
                    w.write(out)
                    await w.drain()
        except Exception:  # the client went away: the script is over
            pass
        w.close()

    # MicroPython's Server does not tell its port: pick one at random until one is free.
    for _ in range(50):
        port = 20000 + random.getrandbits(14)
        try:
            return await asyncio.start_server(handle, "127.0.0.1", port), port, seen
        except OSError:
            pass
    raise OSError("no free port")


async def _stop(server):
    server.close()
    await server.wait_closed()


async def test_connack_codes_give_clear_errors():
    for code, words in ((1, "unacceptable protocol version"), (4, "bad user name or password"),
                        (5, "not authorized")):
        server, port, _ = await _serve(lambda p, code=code: b"\x20\x02\x00" + bytes([code]))
        c = mqtt.MQTTClient("x", "127.0.0.1", port, timeout_ms=2000)
        exc = None
        try:
            await c.connect()
        except mqtt.MQTTError as e:
            exc = e
        await _stop(server)
        assert exc is not None and not c.connected
        assert words in str(exc) and ("(%d)" % code) in str(exc), str(exc)


def _answer(p):
    kind = p[0] >> 4
    if kind == 1:  # CONNACK, then a QoS 1 PUBLISH to the client, which must answer PUBACK 0007
        # ... and one of 300 bytes: a remaining length of two bytes, read as it arrives
        return (b"\x20\x02\x00\x00" + mqtt.publish_head("cmd", 2, qos=1, pid=7) + b"go"
                + mqtt.publish_head("big", 300) + b"y" * 300)
    if kind == 3 and p[0] & 2:  # PUBACK with the packet id that follows the topic
        n = p[2] << 8 | p[3]
        return b"\x40\x02" + p[4 + n : 6 + n]
    if kind == 8:  # SUBACK granting QoS 1
        return b"\x90\x03" + p[2:4] + b"\x01"
    return None


async def test_qos1_publishes_in_flight_subscribe_and_incoming():
    got = []
    server, port, seen = await _serve(_answer)
    c = mqtt.MQTTClient("x", "127.0.0.1", port, keepalive=0,
                        on_message=lambda t, p, r: got.append((t, p)))
    await c.connect()
    pids = []
    for i in range(5):  # five in flight before the first PUBACK is awaited
        pids.append(await c.send("a/b", b"%d" % i, 1))
    assert pids == [1, 2, 3, 4, 5]
    for pid in pids:
        assert await c.wait_ack(pid) is True
    assert await c.subscribe("cmd", 1) == 1
    await c.publish("a/b", b"q0")
    await c.disconnect()
    await asyncio.sleep(0.1)  # the server reads what was sent before the close
    await _stop(server)
    assert got == [("cmd", b"go"), ("big", b"y" * 300)]
    assert b"\x40\x02\x00\x07" in seen  # the client acknowledged the broker's QoS 1
    assert seen[1] == b"\x32\x08\x00\x03a/b\x00\x010"
    assert seen[-2:] == [b"\x30\x07\x00\x03a/bq0", mqtt.DISCONNECT]


async def test_a_lost_connection_fails_the_waiting_publish():
    server, port, _ = await _serve(lambda p: b"\x20\x02\x00\x00" if p[0] == 0x10 else None)
    c = mqtt.MQTTClient("x", "127.0.0.1", port, keepalive=0, timeout_ms=3000)
    await c.connect()
    pid = await c.send("t", b"x", 1)
    await _stop(server)
    await c.close()  # what the reader does when the socket ends
    exc = None
    try:
        await c.wait_ack(pid)
    except mqtt.MQTTError as e:
        exc = e
    assert exc is not None and "connection lost" in str(exc), exc


async def test_keepalive_pings_and_a_silent_broker_is_dropped():
    pong = [True]  # MicroPython functions take no attributes

    def answer(p):
        if p[0] == 0x10:
            return b"\x20\x02\x00\x00"
        return b"\xd0\x00" if p == mqtt.PINGREQ and pong[0] else None  # PINGRESP

    server, port, seen = await _serve(answer)
    c = mqtt.MQTTClient("x", "127.0.0.1", port, keepalive=1)
    await c.connect()
    await asyncio.sleep(2.2)  # past 1.5 keep-alives: the PINGRESPs kept it alive
    assert c.connected and seen.count(mqtt.PINGREQ) >= 3, seen
    pong[0] = False
    await asyncio.sleep(2.5)  # no answer for more than 1.5 keep-alives: a dead link
    assert not c.connected
    await _stop(server)


def test_uplink_puts_the_sequence_number_into_json_records():
    from firmware.uplink import frame

    assert frame(5, b'{"t":1,"v":{}}') == b'{"seq":5,"t":1,"v":{}}'
    assert frame(6, b"{}") == b'{"seq":6}'
    assert frame(7, b"\x01raw") == b"\x01raw"  # not JSON: sent as stored


async def test_a_remaining_length_over_four_bytes_drops_the_connection():
    # CONNACK, then a PUBLISH whose length field runs on into a fifth byte (spec 2.2.3: 4 at most).
    server, port, _ = await _serve(lambda p: b"\x20\x02\x00\x00\x30\xff\xff\xff\xff\x01" if p[0] == 0x10 else None)
    c = mqtt.MQTTClient("x", "127.0.0.1", port, keepalive=0, timeout_ms=3000)
    await c.connect()
    for _ in range(100):
        if not c.connected:
            break
        await asyncio.sleep(0.02)
    dropped = not c.connected  # before the server goes: nothing else ends the connection
    await _stop(server)
    await c.close()
    assert dropped
