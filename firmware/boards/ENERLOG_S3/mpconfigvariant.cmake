# The default build: what both named boards carry, an ESP32-S3R8-class chip with
# 16 MB of flash and 8 MB of octal PSRAM.
#
# Octal PSRAM: the same two files as ESP32_GENERIC_S3's SPIRAM_OCT variant
# (ports/esp32/boards/ESP32_GENERIC_S3/mpconfigvariant_SPIRAM_OCT.cmake).
# With the quad setting alone the octal chip is not found and the heap is the
# internal RAM only (CONFIG_SPIRAM_IGNORE_NOTFOUND keeps it booting, silently).
# Octal PSRAM takes GPIO33-37: no board profile may use those pins.
list(APPEND SDKCONFIG_DEFAULTS
    boards/sdkconfig.240mhz
    boards/sdkconfig.spiram_oct
    ${MICROPY_BOARD_DIR}/sdkconfig.flash_16mb
)

# The partition table of this board (partitions-16MiB.csv). sdkconfig files are
# concatenated as they are (no variable expansion), and ESP-IDF resolves a
# relative CONFIG_PARTITION_TABLE_CUSTOM_FILENAME against ports/esp32, where an
# out-of-tree board's files are not: write the absolute path into a generated
# fragment, last in the list so it overrides sdkconfig.base's
# partitions-4MiBplus.csv.
file(WRITE ${CMAKE_BINARY_DIR}/sdkconfig.enerlog_partitions
    "CONFIG_PARTITION_TABLE_CUSTOM=y\nCONFIG_PARTITION_TABLE_CUSTOM_FILENAME=\"${MICROPY_BOARD_DIR}/partitions-16MiB.csv\"\n")
list(APPEND SDKCONFIG_DEFAULTS
    ${CMAKE_BINARY_DIR}/sdkconfig.enerlog_partitions
)

list(APPEND MICROPY_DEF_BOARD
    MICROPY_HW_BOARD_NAME="EnerLog ESP32-S3 (W5500, 16MB flash, octal PSRAM)"
)
