"""Modbus master benchmarks (issue 3): sweep efficiency, three channels at once, CPU per transaction.

Run: ``make bench`` (or ``python -m bench.modbus``). Figures are printed, nothing is asserted.
"""

import json
import statistics
import tempfile

from bench.plant import Bus, micropython

BAUD, UNITS, ROUNDS = 9600, 20, 3


def main():
    with tempfile.TemporaryDirectory() as d:
        bus = Bus(d, 3)
        try:
            for i in range(3):
                bus.serve(i, 1, UNITS)
            single = []
            for i in range(3):
                r = json.loads(micropython(["bench/mp_modbus.py", "sweep", str(BAUD), str(UNITS), str(ROUNDS),
                                            bus.master[i]]))
                single.append(statistics.median(r["sweeps_ms"][0]))
            bound = r["bound_ms"]
            three = json.loads(micropython(["bench/mp_modbus.py", "sweep", str(BAUD), str(UNITS), str(ROUNDS)]
                                           + bus.master))
        finally:
            bus.close()
    slowest = max(single)
    together = max(statistics.median(s) for s in three["sweeps_ms"])
    print("Modbus sweep, %d slaves x one 125-register read at %d baud (pymodbus over ptys, wire model):"
          % (UNITS, BAUD))
    print("  wire lower bound        %8.0f ms" % bound)
    for i, s in enumerate(single):
        print("  RS485-%d alone           %8.0f ms  efficiency %.3f" % (i + 1, s, bound / s))
    print("  60 devices, 3 channels  %8.0f ms  / slowest channel alone = %.3f" % (together, together / slowest))
    cpu = json.loads(micropython(["bench/mp_modbus.py", "cpu", "2000"]))
    print("CPU per transaction (build request, CRC, check a 125-register reply), unix port:")
    print("  plain CRC %.1f us, viper CRC %.1f us (native emitter: %s)"
          % (cpu["plain_us"], cpu["viper_us"], cpu["native"]))


if __name__ == "__main__":
    main()
