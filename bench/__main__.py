"""``make bench``: every benchmark, figures printed."""

from bench import bus, gateway, gcheap, history, modbus, uplink, web

modbus.main()
bus.main()
gateway.main()
web.main()
history.main()
uplink.main()
gcheap.main()
