# EnerLog ESP32-S3 + W5500 datalogger.
# Follows micropython ports/esp32/boards/ESP32_GENERIC_S3/mpconfigboard.cmake
# (v1.29 line). Relative "boards/..." paths are resolved by the port's
# CMakeLists.txt against ports/esp32, as for in-tree boards; files of this board
# use ${MICROPY_BOARD_DIR} because the board lives outside the MicroPython tree.
#
# This file holds what every build of the board shares. The memory layout is in
# the variant files, which the port's CMakeLists.txt includes right after this:
#   (no variant)  mpconfigvariant.cmake: 16 MB flash, 8 MB octal PSRAM (both
#                 named boards: Waveshare ESP32-S3-ETH, LilyGO T-ETH-Lite S3)
#   FLASH_4M      mpconfigvariant_FLASH_4M.cmake: a 4 MB+ module, quad PSRAM
#                 or none (the generic S3 settings)

# Common S3 settings: sets IDF_TARGET esp32s3 and SDKCONFIG_DEFAULTS to
# sdkconfig.base (which already enables the W5500 SPI-Ethernet driver),
# sdkconfig.ble and sdkconfig.spiram_quad (PSRAM optional, auto-detected).
# IDF_TARGET is set again below so this file states it explicitly.
include(boards/mpconfigboard_esp32s3_common.cmake)
set(IDF_TARGET esp32s3)

list(APPEND SDKCONFIG_DEFAULTS
    # Same flash mode as ESP32_GENERIC_S3.
    boards/sdkconfig.flash_qio_80m
    # Deliberately not boards/sdkconfig.csi (Wi-Fi channel-state info, which
    # ESP32_GENERIC_S3 adds): a wired logger has no use for it.
    # Console off UART0, see the comments in that file.
    ${MICROPY_BOARD_DIR}/sdkconfig.board
)

# Freeze the application (see manifest.py).
set(MICROPY_FROZEN_MANIFEST ${MICROPY_BOARD_DIR}/manifest.py)
