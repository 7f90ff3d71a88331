# EnerLog ESP32-S3: Python code frozen into the firmware image.
# MicroPython manifest format (micropython tools/manifestfile.py), laid out like
# the in-tree board manifests, e.g. ports/esp32/boards/LILYGO_T3_S3/manifest.py:
# include the port default first, then add our own packages.
#
# boot.py and main.py are NOT frozen: they stay on the filesystem so they can be
# replaced without reflashing.

import os

# Port default, i.e. exactly what ESP32_GENERIC_S3 freezes: $(PORT_DIR)/modules
# (_boot.py, flashbdev.py, inisetup.py, ...), asyncio and the micropython-lib
# packages from ports/esp32/boards/manifest.py.
include("$(PORT_DIR)/boards/manifest.py")

# Repo root. manifestfile.py executes a manifest with the working directory set
# to the manifest's own directory (<repo>/firmware/boards/ENERLOG_S3), so the
# root is three levels up. Taking it from the manifest's location rather than
# "$(BOARD_DIR)/../../.." keeps it right even if the build passes another
# BOARD_DIR (e.g. FROZEN_MANIFEST=<this file> with a different board).
_REPO = os.path.abspath(os.path.join("..", "..", ".."))


def _py_files(pkg_dir, skip=()):
    # .py files below pkg_dir, relative to it; directories named in `skip`
    # (relative to pkg_dir) are left out.
    files = []
    for dirpath, dirnames, filenames in os.walk(pkg_dir, followlinks=True):
        rel = os.path.relpath(dirpath, pkg_dir)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d != "__pycache__" and os.path.normpath(os.path.join(rel, d)) not in skip
        )
        files += sorted(
            os.path.normpath(os.path.join(rel, f)) for f in filenames if f.endswith(".py")
        )
    # A plain package("x") of a missing or empty directory freezes nothing and
    # the build still succeeds. Naming __init__.py instead makes such a build
    # fail with "Cannot stat .../__init__.py".
    return files or ["__init__.py"]


# The application package, imported as `firmware` / `firmware.<module>`.
# An explicit file list so that firmware/boards/ (this board definition,
# including this manifest) is not frozen as firmware.boards.*.
package(
    "firmware",
    files=_py_files(os.path.join(_REPO, "firmware"), skip=("boards",)),
    base_path=_REPO,
)

# Third-party web framework, vendored into lib/microdot by the project's setup
# step; frozen as the top-level package `microdot`.
package(
    "microdot",
    files=_py_files(os.path.join(_REPO, "lib", "microdot")),
    base_path=os.path.join(_REPO, "lib"),
)
