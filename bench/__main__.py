"""``make bench``: every benchmark, figures printed."""

from bench import bus, gateway, gcheap, modbus, uplink, web

modbus.main()
bus.main()
gateway.main()
web.main()
uplink.main()
gcheap.main()
