#!/usr/bin/env bash
# Build the ENERLOG_S3 MicroPython firmware image (board definition in
# firmware/boards/ENERLOG_S3) with ESP-IDF, following the steps of
# micropython's ports/esp32/README.md with our out-of-tree BOARD_DIR.
#
# Needs:
#   MICROPY_DIR  a MicroPython v1.29 checkout (git clone; `make submodules`
#                below fetches the submodules it needs)
#   ESP-IDF      activated in this shell (`. "$IDF_PATH/export.sh"`), in a
#                version that MicroPython release supports (see its
#                ports/esp32/README.md)
#
# Usage: MICROPY_DIR=~/src/micropython tools/build_image.sh
set -euo pipefail

BOARD=ENERLOG_S3
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BOARD_DIR="$REPO_ROOT/firmware/boards/$BOARD"

die() {
    printf 'build_image.sh: error: %s\n' "$*" >&2
    exit 1
}

# --- preconditions: fail early with a message rather than deep in CMake ----
if [[ -z "${MICROPY_DIR:-}" ]]; then
    die "MICROPY_DIR is not set. Point it at a MicroPython v1.29 checkout, e.g.
  git clone -b v1.29.0 https://github.com/micropython/micropython ~/src/micropython
  MICROPY_DIR=~/src/micropython $0"
fi
[[ -d "$MICROPY_DIR" ]] || die "MICROPY_DIR ($MICROPY_DIR) is not a directory"
MICROPY_DIR="$(cd "$MICROPY_DIR" && pwd)"
PORT_DIR="$MICROPY_DIR/ports/esp32"
[[ -f "$PORT_DIR/Makefile" ]] \
    || die "$PORT_DIR/Makefile not found: MICROPY_DIR is not a MicroPython checkout"

if [[ -z "${IDF_PATH:-}" ]]; then
    die "IDF_PATH is not set: activate ESP-IDF first (. <esp-idf>/export.sh)"
fi
command -v idf.py >/dev/null 2>&1 \
    || die "idf.py is not on PATH: activate ESP-IDF first (. \"$IDF_PATH/export.sh\")"

[[ -f "$BOARD_DIR/mpconfigboard.cmake" ]] || die "board definition missing: $BOARD_DIR"
# Checked here so a missing piece fails now, not after a long IDF build.
[[ -f "$REPO_ROOT/firmware/__init__.py" ]] || die "firmware/__init__.py missing"
[[ -d "$REPO_ROOT/lib/microdot" ]] \
    || die "lib/microdot missing: run the project's setup step first"

# The board targets v1.29 (macro and sdkconfig snippet names changed after
# v1.28); warn, don't stop, on other versions.
minor="$(sed -n 's/^#define MICROPY_VERSION_MINOR \([0-9]*\).*/\1/p' \
    "$MICROPY_DIR/py/mpconfig.h" 2>/dev/null || true)"
if [[ "$minor" != "29" ]]; then
    printf 'build_image.sh: warning: MICROPY_DIR is MicroPython 1.%s, board written for 1.29\n' \
        "${minor:-?}" >&2
fi

# --- build ------------------------------------------------------------------
# Variables the port Makefile would otherwise take from the environment and
# that would change what gets built: a FROZEN_MANIFEST overrides our
# manifest.py. The variant is chosen with ENERLOG_VARIANT (docs/board.md):
# empty for the named boards (16 MB flash, octal PSRAM), FLASH_4M for a 4 MB+
# module with quad PSRAM or none.
unset FROZEN_MANIFEST BOARD_VARIANT
VARIANT="${ENERLOG_VARIANT:-}"
if [[ -n "$VARIANT" && ! -f "$BOARD_DIR/mpconfigvariant_$VARIANT.cmake" ]]; then
    die "no variant $VARIANT: see $BOARD_DIR/mpconfigvariant_*.cmake"
fi
BUILD="build-$BOARD${VARIANT:+-$VARIANT}"
MAKE_ARGS=(-C "$PORT_DIR" BOARD="$BOARD" BOARD_DIR="$BOARD_DIR" BUILD="$BUILD")
[[ -z "$VARIANT" ]] || MAKE_ARGS+=(BOARD_VARIANT="$VARIANT")

make -C "$MICROPY_DIR/mpy-cross"    # cross-compiler for frozen .py files
make "${MAKE_ARGS[@]}" submodules    # only the submodules this board needs
make "${MAKE_ARGS[@]}"               # idf.py build + makeimg.py -> firmware.bin

IMAGE="$PORT_DIR/$BUILD/firmware.bin"
[[ -f "$IMAGE" ]] || die "build finished but $IMAGE was not produced"
printf -v DEPLOY_CMD '%q ' make "${MAKE_ARGS[@]}" PORT=/dev/ttyACM0 deploy

cat <<EOF

Firmware image (bootloader + partition table + app, flash at offset 0):
  $IMAGE

Flash over the board's native USB (hold BOOT while resetting if the board
does not enter the bootloader by itself), first time: erase, then write:
  esptool.py --chip esp32s3 --port /dev/ttyACM0 erase_flash
  esptool.py --chip esp32s3 --port /dev/ttyACM0 write_flash 0 "$IMAGE"
or let the port Makefile do it (idf.py flash):
  ${DEPLOY_CMD% }
EOF
