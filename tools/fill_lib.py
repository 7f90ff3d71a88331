"""Fills lib/ with the third-party MicroPython libraries, taken from the pinned PyPI packages.

Nothing third-party is committed: lib/ is rebuilt from the installed, version-pinned packages.
"""

import importlib.util
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "lib")
PACKAGES = ["microdot"]  # import names; each must be pinned in requirements.txt
# Type stubs and the CPython-only server adapters never run on the board.
SKIP = ("__pycache__", "*.pyc", "*.pyi", "py.typed", "asgi.py", "wsgi.py", "jinja.py")


def copy_package(name):
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit("fill_lib: package %s is not installed (make deps)" % name)
    src = list(spec.submodule_search_locations)[0]
    dst = os.path.join(LIB, name)
    if os.path.isdir(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*SKIP))
    return src, dst


if __name__ == "__main__":
    for pkg in PACKAGES:
        src, dst = copy_package(pkg)
        print("%s <- %s" % (os.path.relpath(dst, ROOT), src))
