"""``make bench``: every benchmark, figures printed."""

from bench import modbus

modbus.main()
