"""The Log's pages (GET /api/events): the newest 50, and the faults and warnings alone, over an
event log of 5,001 events (one fault, 5,000 settings changes newer than it), under the MicroPython
unix port: the filter reads back through every row.

Run: ``python -m bench.events`` (part of ``make bench``).
"""

import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    with tempfile.TemporaryDirectory() as folder:
        exe = os.path.join(os.path.dirname(sys.executable), "micropython")
        env = dict(os.environ, MICROPYPATH=":".join([ROOT, os.path.join(ROOT, "lib"), ".frozen"]))
        out = subprocess.run([exe if os.path.exists(exe) else "micropython", "bench/mp_events.py", folder],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        for line in (out.stdout or out.stderr).strip().splitlines():
            print("event log (unix port): " + line)


if __name__ == "__main__":
    main()
