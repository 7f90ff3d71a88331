# The reset button over simulated time, sampled every 20 ms like the task does.
from firmware import button
from firmware.compat import ticks_add
from firmware.hw.pc import Button
from firmware.log import Log

T0 = ticks_add(0, -3000)
STEP = 20


def _press(segments, restart_s=4, factory_s=10, lead_ms=200, tail_ms=500):
    """Feeds a pin signal given as [(pressed, ms), ...]; returns (actions fired, pending per sample)."""
    logic = button.ResetButton(restart_s, factory_s)
    signal = [(False, lead_ms)] + list(segments) + [(False, tail_ms)]
    fired, pending, t = [], [], 0
    for level, ms in signal:
        end = t + ms
        while t < end:
            now = ticks_add(T0, t)
            act = logic.update(now, level)
            if act:
                fired.append((act, t))
            pending.append(logic.pending(now))
            t += STEP
    return fired, pending


def _actions(segments, **kw):
    return [a for a, _ in _press(segments, **kw)[0]]


def test_short_press_fires_nothing():
    assert _actions([(True, 500)]) == []
    assert _actions([(True, 3960)]) == []  # just under the restart time


def test_restart_time_fires_restart_once():
    assert _actions([(True, 4000)]) == ["restart"]
    assert _actions([(True, 9000)]) == ["restart"]


def test_factory_time_fires_factory_reset_once():
    assert _actions([(True, 10000)]) == ["factory"]
    assert _actions([(True, 25000)]) == ["factory"]


def test_action_fires_on_release_after_the_debounce():
    fired, _ = _press([(True, 4000)])
    assert fired == [("restart", 200 + 4000 + 60)], fired  # release at 4200, stable 60 ms later


def test_bounces_neither_fire_nor_shorten_a_hold():
    chatter = [(True, 20), (False, 20), (True, 20), (False, 20)] * 3  # 240 ms of contact bounce
    assert _actions(chatter) == []
    assert _actions([(True, 40), (False, 20)] * 20) == []  # never stable for 50 ms
    # a 4 s press with bounce at both ends fires one restart
    assert _actions(chatter + [(True, 4000)] + chatter) == ["restart"]
    # a 40 ms drop in the middle of a 10 s hold is a bounce, not a release
    assert _actions([(True, 5000), (False, 40), (True, 5000)]) == ["factory"]
    # a real release (200 ms) between two holds: two separate presses
    assert _actions([(True, 4500), (False, 200), (True, 500)]) == ["restart"]


def test_pending_shows_what_a_release_would_fire():
    _, pending = _press([(True, 11000)], lead_ms=200, tail_ms=200)
    at = lambda ms: pending[ms // STEP]  # noqa: E731
    assert at(100) is None  # not pressed
    assert at(300) == "hold"  # pressed, nothing would fire yet
    assert at(200 + 3980) == "hold" and at(200 + 4000) == "restart"
    assert at(200 + 9980) == "restart" and at(200 + 10000) == "factory"
    assert at(11300) is None  # released


def test_press_under_way_at_start_is_ignored_until_released():
    assert _actions([(True, 12000)], lead_ms=0) == []
    assert _actions([(True, 12000), (False, 200), (True, 4000)], lead_ms=0) == ["restart"]


def test_hold_times_come_from_the_settings():
    # the manual's other pair (section 6.1): 1 s restart, 5 s factory
    assert _actions([(True, 500)], restart_s=1, factory_s=5) == []
    assert _actions([(True, 1500)], restart_s=1, factory_s=5) == ["restart"]
    assert _actions([(True, 5000)], restart_s=1, factory_s=5) == ["factory"]
    logic = button.ResetButton(4, 10)
    logic.configure(2, 3)
    assert logic.action(2500) == "restart" and logic.action(3000) == "factory"


def test_task_calls_the_actions_and_logs_them():
    pin = Button()
    calls = []
    log = Log(size=16, echo=False)
    task = button.ButtonTask(pin, button.ResetButton(4, 10), lambda: calls.append("restart"),
                             lambda: calls.append("factory"), log)

    def hold(ms, start):
        pin.held = True
        t = start
        while t < start + ms:
            task.sample(ticks_add(T0, t))
            t += STEP
        pin.held = False
        while t < start + ms + 200:
            task.sample(ticks_add(T0, t))
            t += STEP
        return t

    t = hold(100, 0)  # first samples settle the pin
    t = hold(4100, t)
    assert calls == ["restart"]
    t = hold(10100, t)
    assert calls == ["restart", "factory"]
    msgs = [e[2] for e in log.recent()]
    assert msgs.count("button: restart requested") == 1 and msgs.count("button: factory reset requested") == 1
    assert "button: held past the factory time; release now to restore the factory settings" in msgs, msgs
