"""``make bench``: every benchmark, figures printed."""

from bench import gcheap, modbus, uplink, web

modbus.main()
web.main()
uplink.main()
gcheap.main()
