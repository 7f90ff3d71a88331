"""Helpers for benches and tests: pty lines (socat) with pymodbus slaves in their own processes."""

import os
import subprocess
import sys

from tools.sim import ptys
from tools.venvtool import find

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Bus:
    """``n`` pty pairs in ``folder``; ``serve(i, first, last)`` puts pymodbus slaves on line i."""

    def __init__(self, folder, n):
        self.procs = []
        self.master, self.slave = [], []
        for i in range(n):
            a, b = os.path.join(folder, "m%d" % i), os.path.join(folder, "s%d" % i)
            self.procs.append(ptys.pair(a, b))
            self.master.append(a)
            self.slave.append(b)

    def serve(self, i, first, last):
        p = subprocess.Popen([sys.executable, "-m", "tools.sim.line", self.slave[i], str(first), str(last)],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        self.procs.append(p)

    def close(self):
        for p in reversed(self.procs):
            p.terminate()
            p.wait()


def micropython(args, timeout=600):
    """Runs a bench script under the unix port; returns its last line of output."""
    env = dict(os.environ, MICROPYPATH=":".join([ROOT, os.path.join(ROOT, "lib"), ".frozen"]))
    res = subprocess.run([find("micropython")] + args, cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=timeout)
    if res.returncode:
        raise RuntimeError(res.stdout + res.stderr)
    return res.stdout.strip().splitlines()[-1]
