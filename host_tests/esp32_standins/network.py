"""Recording stand-in for the ESP32's ``network`` (MicroPython 1.29): the W5500 ``LAN`` and the
module functions the adapter uses; names and constants as in micropython-esp32-stubs 1.29.0
(``LAN``'s constructor as tools/typecheck.py corrects it from ports/esp32/network_lan.c).
"""

from standin import Recorded, record

PHY_W5500 = 102
ETH_INITIALIZED = 0
ETH_STARTED = 1
ETH_STOPPED = 2
ETH_CONNECTED = 3
ETH_DISCONNECTED = 4
ETH_GOT_IP = 5

STATE = {"status": ETH_CONNECTED, "dhcp4": False, "addr": "0.0.0.0", "mac": b"\x02\x45\x4c\x00\x00\x01"}


def hostname(*args, **kwargs):
    record("network.hostname", args, kwargs)
    return None if args else "standin"


def ipconfig(*args, **kwargs):
    record("network.ipconfig", args, kwargs)


class LAN(Recorded):
    _name = "network.LAN"

    def __init__(self, *args, **kwargs):
        record("network.LAN", args, kwargs)

    def active(self, *args, **kwargs):
        self._rec("active", args, kwargs)
        return True

    def status(self, *args, **kwargs):
        self._rec("status", args, kwargs)
        return STATE["status"]

    def ipconfig(self, *args, **kwargs):
        self._rec("ipconfig", args, kwargs)
        if args:
            return STATE[args[0]]
        if "dhcp4" in kwargs:
            STATE["dhcp4"] = kwargs["dhcp4"]
        if "addr4" in kwargs:
            STATE["dhcp4"] = False  # setting an address stops the DHCP client (network_common.c)
            a = kwargs["addr4"]
            STATE["addr"] = a[0] if isinstance(a, tuple) else a.split("/")[0]
        return None

    def ifconfig(self, *args, **kwargs):
        self._rec("ifconfig", args, kwargs)
        return (STATE["addr"], "255.255.255.0", "192.168.0.1", "192.168.0.1")

    def config(self, *args, **kwargs):
        self._rec("config", args, kwargs)
        return STATE["mac"]
