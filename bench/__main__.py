"""``make bench``: every benchmark, figures printed."""

from bench import bus, modbus, uplink, web

modbus.main()
bus.main()
web.main()
uplink.main()
