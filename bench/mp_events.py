# Runs under the MicroPython unix port: the Log's "Faults and warnings" page over a full event log.
#   micropython bench/mp_events.py <folder>
import sys
import time

from firmware.eventlog import EventLog


class Clock:
    def stamp(self):
        return [1796212800000, 1, 0]

    def resolve(self, stamp):
        return stamp[0]


log = EventLog(sys.argv[1], Clock())
log.add("fault", "fault", "Fault: AC no utility fault", 1, 2, "ATESS Inverter HPS, RS485-1 address 2")
for i in range(5000):  # newer than the fault: the filter reads back through all of them
    log.add("settings", "info", "Settings changed from the web page: device settings interval %d" % i)
for levels, label in ((["warning", "fault"], "faults and warnings"), (None, "everything")):
    times = []
    for _ in range(5):
        t = time.ticks_us()
        got, more = log.page(50, None, levels)
        times.append(time.ticks_diff(time.ticks_us(), t))
    times.sort()
    print("a page of %s over %d events: %d events, median %.1f ms" % (label, log.seq, len(got), times[2] / 1000))
