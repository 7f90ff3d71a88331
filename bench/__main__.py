"""``make bench``: every benchmark, figures printed."""

from bench import bus, gcheap, modbus, uplink, web

modbus.main()
bus.main()
web.main()
uplink.main()
gcheap.main()
