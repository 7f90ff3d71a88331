"""``make bench``: every benchmark, figures printed."""

from bench import bus, events, gateway, gcheap, history, history_start, modbus, page, uplink, web

modbus.main()
bus.main()
gateway.main()
web.main()
history.main()
history_start.main()
events.main()
page.main()
uplink.main()
gcheap.main()
