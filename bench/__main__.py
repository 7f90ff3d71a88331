"""``make bench``: every benchmark, figures printed."""

from bench import bus, gateway, gcheap, history, modbus, page, uplink, web

modbus.main()
bus.main()
gateway.main()
web.main()
history.main()
page.main()
uplink.main()
gcheap.main()
