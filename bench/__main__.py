"""``make bench``: every benchmark, figures printed."""

from bench import modbus, uplink, web

modbus.main()
web.main()
uplink.main()
