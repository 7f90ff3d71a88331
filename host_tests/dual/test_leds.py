# LED patterns (manual table 2-2) over simulated time, and the task setting the PC board's LEDs.
from firmware import leds
from firmware.compat import ticks_add
from firmware.hw.pc import Led

T0 = ticks_add(0, -7000)  # the tick counter wraps 7 s into every run


def _trace(seconds, connected=True, status="normal", counts=(0, 0, 0), step=10, logic=None, start=0):
    """{led: [on at each step]} over ``seconds`` of simulated time."""
    logic = logic or leds.Leds(ticks_add(T0, start))
    out = {}
    for i in range(int(seconds * 1000) // step):
        frame = logic.frame(ticks_add(T0, start + i * step), connected, status, lambda ch: counts[ch - 1])
        for name, on in frame.items():
            out.setdefault(name, []).append(on)
    return out


def _edges(samples):
    """Rising edges (flashes) in a trace."""
    n, prev = 0, False
    for on in samples:
        if on and not prev:
            n += 1
        prev = on
    return n


def test_power_steady_and_network_follows_the_connection():
    t = _trace(5, connected=True)
    assert all(t["power"]) and all(t["network"])
    t = _trace(5, connected=False)
    assert all(t["power"]) and not any(t["network"])


def test_status_patterns():
    # normal: interval flashing, one 100 ms flash a second
    t = _trace(10, status="normal")["status"]
    assert _edges(t) == 10 and t.count(True) == 100, (_edges(t), t.count(True))
    # upgrade: fast flashing, 4 a second
    t = _trace(10, status="upgrade")["status"]
    assert _edges(t) == 40 and t.count(True) == 40 * 13  # 125 ms on: 13 samples of 10 ms
    # fault: off
    assert not any(_trace(10, status="fault")["status"])
    # button feedback: off while nothing would fire, steady for restart, 10 Hz for factory
    assert not any(_trace(3, status="hold")["status"])
    assert all(_trace(3, status="restart")["status"])
    t = _trace(3, status="factory")["status"]
    assert _edges(t) == 30


def test_status_pattern_change_shows_at_once():
    logic = leds.Leds(T0)
    _trace(0.5, status="normal", logic=logic)  # 500 ms in, the normal flash is over
    assert logic.frame(ticks_add(T0, 500), True, "restart", lambda ch: 0)["status"] is True
    assert logic.frame(ticks_add(T0, 510), True, "factory", lambda ch: 0)["status"] is True  # starts on
    assert logic.frame(ticks_add(T0, 570), True, "factory", lambda ch: 0)["status"] is False


def test_rs485_leds_flash_the_device_count_then_pause():
    t = _trace(12, counts=(3, 0, 20))
    # RS485-1: 3 flashes (1.5 s) then 2 s dark, repeated: 3.5 s cycles, 4 cycles started in 12 s
    assert _edges(t["rs485_1"]) == 3 * 4, _edges(t["rs485_1"])
    one = t["rs485_1"][:350]  # the first cycle, 10 ms steps
    assert _edges(one) == 3 and one[:20] == [True] * 20 and one[20:50] == [False] * 30
    assert not any(one[150:])  # the pause
    assert not any(t["rs485_2"])
    # 20 devices: 20 flashes in 10 s, then the pause
    assert _edges(t["rs485_3"][:1000]) == 20 and not any(t["rs485_3"][1000:1200])


def test_rs485_count_is_read_at_the_start_of_each_sequence():
    logic = leds.Leds(T0)
    counts = [2, 0, 0]
    seen = []
    prev = False
    for i in range(1200):  # 12 s in 10 ms steps
        if i == 50:
            counts[0] = 5  # changes mid-sequence: the running one finishes with 2 flashes
        on = logic.frame(ticks_add(T0, i * 10), True, "normal", lambda ch: counts[ch - 1])["rs485_1"]
        if on and not prev:
            seen.append(i * 10)
        prev = on
    assert seen[:2] == [0, 500], seen  # first sequence: 2 flashes
    assert seen[2] == 3000, seen  # next sequence starts after 2 x 500 ms + 2 s pause, with 5 flashes
    assert seen[2:7] == [3000, 3500, 4000, 4500, 5000], seen


def test_new_devices_show_within_one_pause():
    logic = leds.Leds(T0)
    counts = [0, 0, 0]
    for i in range(100):
        logic.frame(ticks_add(T0, i * 10), True, "normal", lambda ch: counts[ch - 1])
    counts[1] = 1
    lit = [logic.frame(ticks_add(T0, 1000 + i * 10), True, "normal", lambda ch: counts[ch - 1])["rs485_2"]
           for i in range(200)]
    assert True in lit[:101]  # by the end of the running 2 s pause


def test_task_sets_the_board_leds_only_on_change():
    board = {n: Led(n) for n in ("power", "network", "status", "rs485_1", "rs485_2", "rs485_3")}
    state = {"connected": False, "status": "normal"}
    task = leds.LedTask(board, lambda: state["connected"], lambda: state["status"], lambda ch: ch == 1 and 2)
    task.show(T0)
    assert board["power"].on and not board["network"].on and board["status"].on and board["rs485_1"].on
    assert not board["rs485_2"].on
    state["connected"] = True
    state["status"] = "fault"
    task.show(ticks_add(T0, 50))
    assert board["network"].on and not board["status"].on
    # without a count source, the RS485 LEDs stay dark
    plain = leds.LedTask(board, lambda: True, lambda: "normal")
    assert plain.show(T0)["rs485_1"] is False
