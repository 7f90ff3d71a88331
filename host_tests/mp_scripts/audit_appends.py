# Appends write audit entries as fast as it can until it is killed (a power cut):
#   micropython audit_appends.py <flash root> <first entry number>
# Files of 1 KB, so that the cuts also fall around the start of a new file.
import sys

from firmware.audit import Audit

audit = Audit(sys.argv[1])
audit.file_bytes = 1024
i = int(sys.argv[2])
print("READY")
while True:
    audit.append({"time": i, "who": "TCP 127.0.0.1", "channel": 1, "address": 2, "point": "output_power_limit",
                  "register": 58, "old": i % 121, "new": (i + 1) % 121, "read_back": (i + 1) % 121,
                  "result": "written", "message": "x" * (i % 60)})
    i += 1
