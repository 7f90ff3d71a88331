"""Modbus RTU master: frames (frame.py), CRC (crc.py), one transaction engine per bus (channel.py)."""
