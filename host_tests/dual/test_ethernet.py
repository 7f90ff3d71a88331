# The network state machine driven through the PC Ethernet adapter, in simulated time.
# Nothing is contacted: the PC adapter records the configurations the firmware sets.
from firmware import ethernet
from firmware.compat import ticks_add
from firmware.hw.pc import Ethernet
from firmware.log import Log
from firmware.settings import defaults

T0 = ticks_add(0, -30000)  # 30 s before the tick counter wraps: every interval below crosses it
SETUP = ("static", ("192.168.0.254", "255.255.255.0", "192.168.0.1", "192.168.0.1"))
LEASE = ("192.168.60.2", "255.255.255.0", "192.168.60.1", "192.168.60.1")


def _net(cfg=None, lease=LEASE, link=True, serial="BAKFB02000"):
    eth = Ethernet(mac="50:88:18:e0:57:19", lease=lease)
    eth.link_up = link
    log = Log(size=64, echo=False)
    net = ethernet.Network(eth, cfg or defaults()["network"], log, {"serial": serial} if serial else None, T0)
    net.start()
    return net, eth, log


def _run(net, start_s, end_s, step_ms=250):
    """Polls from ``start_s`` to ``end_s`` (seconds after T0), like the task does."""
    ms, end = int(start_s * 1000), int(end_s * 1000)
    while ms <= end:
        net.poll(ticks_add(T0, ms))
        ms += step_ms


def _messages(log):
    return [e[2] for e in log.recent()]


def test_setup_window_then_dhcp_with_the_serial_number_as_host_name():
    net, eth, log = _net()
    assert eth.hostname == "BAKFB02000"
    _run(net, 0, 119.75)
    assert net.state == "setup" and not net.connected
    assert eth.history == [SETUP]  # set once, not at every poll
    assert eth.ifconfig() == SETUP[1]
    st = net.status(ticks_add(T0, 60000))
    assert st["setup_window_s"] == 60 and st["ip"] == "192.168.0.254" and st["state"] == "setup", st
    _run(net, 120, 121)
    assert net.state == "dhcp" and net.connected
    assert eth.history == [SETUP, ("dhcp", None)] and eth.dhcp_requests == 1
    st = net.status(ticks_add(T0, 121000))
    assert (st["ip"], st["mask"], st["gateway"], st["dns"]) == LEASE, st
    assert st["connected"] and st["link"] and st["dhcp"] and st["mac"] == "50:88:18:e0:57:19", st
    assert st["hostname"] == "BAKFB02000" and st["setup_window_s"] == 0, st
    msgs = _messages(log)
    assert "network: asking for a DHCP lease as BAKFB02000 (attempt 1)" in msgs, msgs
    assert any(m.startswith("network: DHCP lease 192.168.60.2/255.255.255.0") for m in msgs), msgs


def test_unprovisioned_logger_names_itself_after_its_mac():
    net, eth, _ = _net(serial=None)
    assert eth.hostname == "EnerLog-E05719"
    assert ethernet.hostname({"serial": "AB12345678"}, "02:00:00:00:00:01") == "AB12345678"


def test_static_address_from_the_start_without_dhcp():
    cfg = dict(defaults()["network"], dhcp=False, ip="10.20.30.40", mask="255.255.0.0", gateway="10.20.0.1",
               dns="10.20.0.2")
    net, eth, _ = _net(cfg)
    _run(net, 0, 300, 1000)
    assert net.state == "static" and net.connected
    assert eth.history == [("static", ("10.20.30.40", "255.255.0.0", "10.20.0.1", "10.20.0.2"))]
    assert eth.dhcp_requests == 0 and eth.mode == "static"


def test_no_setup_window_when_it_is_set_to_zero():
    net, eth, _ = _net(dict(defaults()["network"], startup_static_s=0))
    _run(net, 0, 0.5)
    assert net.state == "dhcp" and eth.history == [("dhcp", None)]


def test_link_lost_and_regained_sets_the_address_up_again():
    net, eth, log = _net()
    _run(net, 0, 125)
    assert net.connected
    eth.link_up = False
    _run(net, 125.25, 200)
    assert net.state == "no-link" and not net.connected
    assert net.status()["ip"] == "0.0.0.0"
    eth.link_up = True
    _run(net, 200.25, 201)
    assert net.state == "dhcp" and net.connected
    assert eth.dhcp_requests == 2  # a new request, no reboot, no second setup window
    msgs = _messages(log)
    assert msgs.count("network: link lost") == 1 and msgs.count("network: link up") == 2, msgs

    cfg = dict(defaults()["network"], dhcp=False)
    net, eth, _ = _net(cfg)
    _run(net, 0, 10)
    eth.link_up = False
    _run(net, 10.25, 20)
    eth.link_up = True
    _run(net, 20.25, 21)
    assert net.state == "static" and len(eth.history) == 2 and eth.history[0] == eth.history[1]


def test_link_down_at_start_then_up_after_the_window_goes_straight_to_dhcp():
    net, eth, _ = _net(link=False)
    _run(net, 0, 150)
    assert net.state == "no-link" and eth.history == []
    eth.link_up = True
    _run(net, 150.25, 151)
    assert net.state == "dhcp" and eth.history == [("dhcp", None)]


def test_silent_dhcp_server_keeps_the_fallback_address_and_retries():
    net, eth, log = _net(lease=None)
    _run(net, 0, 120)
    assert net.state == "requesting" and eth.ifconfig()[0] == "0.0.0.0"
    _run(net, 120.25, 150)
    # no answer in 30 s: back at the static address, reachable, until the next try
    assert net.state == "fallback" and eth.ifconfig() == SETUP[1]
    tries = []
    ms, last = 150250, eth.dhcp_requests
    while ms <= 1800 * 1000:
        net.poll(ticks_add(T0, ms))
        if eth.dhcp_requests != last:
            tries.append(ms // 1000)
            last = eth.dhcp_requests
        ms += 250
    # fallbacks of 60, 120, 240, then 300 s at most, each after a 30 s attempt
    assert tries[:6] == [210, 360, 630, 960, 1290, 1620], tries
    assert net.status()["dhcp_requests"] == 1 + len(tries)
    assert not net.connected
    msgs = _messages(log)
    assert any(m.startswith("network: no DHCP answer in 30 s; static fallback 192.168.0.254") for m in msgs), msgs
    # the server comes back: the next try gets the lease
    eth.lease = LEASE
    _run(net, 1800.25, 2300)
    assert net.state == "dhcp" and net.connected and eth.ifconfig() == LEASE


def test_a_lost_lease_is_asked_for_again():
    net, eth, _ = _net()
    _run(net, 0, 121)
    eth.lease = None
    _run(net, 121.25, 122)
    assert net.state == "requesting" and eth.dhcp_requests == 2
    eth.lease = LEASE
    _run(net, 122.25, 123)
    assert net.state == "dhcp"


def test_changed_settings_apply_at_once_without_a_new_setup_window():
    net, eth, log = _net()
    _run(net, 0, 10)
    new = dict(defaults()["network"], dhcp=False, ip="192.168.1.50", gateway="192.168.1.1")
    net.configure(new)
    _run(net, 10.25, 11)
    assert net.state == "static" and eth.ifconfig()[0] == "192.168.1.50"
    net.configure(dict(new, dhcp=True))
    _run(net, 11.25, 12)
    assert net.state == "dhcp" and net.connected
    net.configure(dict(new, dhcp=True))  # unchanged: nothing happens
    assert "network: settings changed, setting the address up again" in _messages(log)
    assert _messages(log).count("network: settings changed, setting the address up again") == 2
