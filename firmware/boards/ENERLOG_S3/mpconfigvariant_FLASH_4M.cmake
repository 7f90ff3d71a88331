# For an ESP32-S3 module with 4 MB of flash (or more) and quad PSRAM or none:
# the generic S3 memory settings, unchanged (sdkconfig.spiram_quad, PSRAM
# auto-detected, and sdkconfig.base's partitions-4MiBplus.csv: a ~1.9 MB app
# partition, the rest of the flash becomes the filesystem at first boot).
# Not for the named boards: their octal PSRAM would not be found.
list(APPEND MICROPY_DEF_BOARD
    MICROPY_HW_BOARD_NAME="EnerLog ESP32-S3 (W5500, 4MB+ flash)"
)
