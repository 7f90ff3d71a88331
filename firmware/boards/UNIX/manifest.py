# The MicroPython unix port with the application frozen in, as the ENERLOG_S3 image has it: a PC
# stand-in for the board's heap (docs/heap.md; bench/soak.py --micropython). Build it from a
# MicroPython checkout with
#   make -C ports/unix FROZEN_MANIFEST=<this file> MPY_CROSS_FLAGS=-march=x64
# (CFLAGS_EXTRA=-m32 LDFLAGS_EXTRA=-m32 MPY_CROSS_FLAGS=-march=x86 for a 32-bit build; docs/heap.md
# has the whole command). The firmware then runs from a
# `tools/build.py --frozen` folder: start-up files and data only.

import os

include("$(MPY_DIR)/extmod/asyncio")

_REPO = os.path.abspath(os.path.join("..", "..", ".."))  # run from this file's folder
# All of firmware/ (board definitions included, never imported: they cost image bytes only).
package("firmware", base_path=_REPO)
package("microdot", base_path=os.path.join(_REPO, "lib"))
