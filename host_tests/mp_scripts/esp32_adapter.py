# Runs under the MicroPython unix port with the recording stand-ins of host_tests/esp32_standins
# first on MICROPYPATH: drives firmware/hw/esp32.py through each scenario and prints one JSON line
# per scenario: {"scenario", "calls": [[name, args, kwargs], ...], "result"}.
#   micropython esp32_adapter.py
import asyncio
import json

import esp32
import machine
import network
from standin import CALLS

from firmware.board import load_profile
from firmware.compat import ticks_diff, ticks_ms
from firmware.hw import esp32 as adapter
from firmware.modbus.channel import Channel
from firmware.settings import BAUD_RATES, PARITIES


def plain(v):
    """JSON-able: bytes as {"bytes": hex}, stand-in objects by name, tuples as lists."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"bytes": bytes(v).hex()}
    if isinstance(v, machine.Pin):
        return {"pin": v.id}
    if isinstance(v, (machine.SPI, machine.UART, network.LAN)):
        return {"obj": v._name}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    return v


def emit(name, result=None):
    print(json.dumps({"scenario": name, "calls": [[n, plain(a), plain(k)] for n, a, k in CALLS],
                      "result": plain(result)}))
    CALLS.clear()


def fresh(cause=machine.PWRON_RESET, memory=b""):
    machine.STATE["reset_cause"] = cause
    machine.STATE["rtc_memory"] = memory
    CALLS.clear()


def boards():
    for name in ("waveshare-esp32-s3-eth", "lilygo-t-eth-lite-s3"):
        fresh()
        board = adapter.Board(load_profile(name))
        emit("board " + name, {"name": board.name, "cause": board.reset_cause()})


def uart_settings(board):
    ch = Channel(board.rs485[0], 1)
    CALLS.clear()
    out = []
    for baud in BAUD_RATES:
        for parity in PARITIES:
            for stop in (1, 2):
                ch.configure(baud, parity, stop)
                out.append([baud, parity, stop, board.rs485[0].char_us])
    emit("uart settings", out)


async def send_recv(board):
    port = board.rs485[0]
    port.configure(9600)
    CALLS.clear()
    frame = bytes(range(1, 41))  # 40 bytes at 9600 8N1: 41.7 ms on the wire
    t0 = ticks_ms()
    await port.send(frame)
    emit("send", {"ms": ticks_diff(ticks_ms(), t0), "tx": port._uart.tx})
    port._uart.rx += b"\x01\x03\x02\x00\x2a\x38\x5b"
    buf = bytearray(16)
    n = await port.recv(buf, 200)
    emit("recv", {"n": n, "got": buf[:n]})
    t0 = ticks_ms()
    n = await port.recv(buf, 120)
    emit("recv timeout", {"n": n, "ms": ticks_diff(ticks_ms(), t0)})
    port._uart.rx += b"noise"
    emit("discard", {"n": port.discard(), "left": len(port._uart.rx)})


def ethernet(board):
    eth = board.ethernet
    CALLS.clear()
    eth.start("EnerLog-" + "9" * 40)
    emit("ethernet start")
    network.STATE["status"] = network.ETH_GOT_IP
    up = eth.link()
    network.STATE["status"] = network.ETH_DISCONNECTED
    down = eth.link()
    emit("ethernet link", [up, down])
    network.STATE["addr"] = "192.168.0.254"
    bound = eth.dhcp()
    network.STATE["addr"] = "192.168.1.77"  # the lease arrives
    emit("ethernet dhcp", [bound, eth.bound(), eth.ifconfig()])
    eth.static("192.168.0.254", "255.255.255.0", "192.168.0.1", "192.168.0.2")
    eth.static("10.1.2.3", "255.255.0.0", "10.1.0.1", "10.1.0.1")
    eth.static("172.16.5.9", "255.255.255.128", "172.16.5.1", "1.1.1.1")
    emit("ethernet static", eth.bound())
    emit("ethernet mac", eth.mac())


def causes():
    chip = [("PWRON_RESET", machine.PWRON_RESET), ("HARD_RESET", machine.HARD_RESET),
            ("WDT_RESET", machine.WDT_RESET), ("DEEPSLEEP_RESET", machine.DEEPSLEEP_RESET),
            ("SOFT_RESET", machine.SOFT_RESET), ("unknown", 99)]
    profile = load_profile("waveshare-esp32-s3-eth")
    out = []
    for name, value in chip:
        for memory in (b"", b"EL:crash", b"EL:upgrade"):
            fresh(value, memory)
            board = adapter.Board(profile)
            out.append([name, memory.decode(), board.reset_cause(), machine.STATE["rtc_memory"].decode()])
    CALLS.clear()
    emit("reset causes", out)
    fresh()
    board = adapter.Board(profile)
    CALLS.clear()
    try:
        board.reset("upgrade")
        done = False
    except machine.ResetCalled:
        done = True
    emit("reset", [done, machine.STATE["rtc_memory"].decode()])


def watchdog_button_leds(board):
    CALLS.clear()
    board.watchdog.feed()  # before start: nothing to feed
    board.watchdog.start(8000)
    board.watchdog.feed()
    emit("watchdog")
    pin = board.profile["button"]["pin"]
    machine.STATE["inputs"][pin] = 0
    held = board.button.pressed()
    machine.STATE["inputs"][pin] = 1
    emit("button", [held, board.button.pressed()])
    led = board.leds["status"]
    emit("led", [led.value(1), led.value(), led.value(0), led._pin.level])
    low = adapter.Led(21, active_low=True)
    emit("led active low", [low._pin.level, low.value(True), low._pin.level])


def memory(board):
    CALLS.clear()
    with_psram = board.memory()
    esp32.STATE["psram"] = []  # none found: a quad-PSRAM build on an octal chip, or a module without
    emit("memory", [with_psram, board.memory()])


def main():
    boards()
    fresh()
    board = adapter.Board(load_profile("waveshare-esp32-s3-eth"))
    uart_settings(board)
    asyncio.run(send_recv(board))
    ethernet(board)
    causes()
    watchdog_button_leds(board)
    memory(board)


main()
