"""``make bench``: every benchmark, figures printed."""

from bench import modbus, web

modbus.main()
web.main()
