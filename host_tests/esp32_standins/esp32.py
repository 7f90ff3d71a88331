"""Recording stand-in for the ESP32's ``esp32`` module: the heap report the status reads; names and
constants as in micropython-esp32-stubs 1.29.0.
"""

from standin import record

HEAP_DATA = 4
HEAP_EXEC = 1

# (total, free, largest free block, minimum free) per IDF heap region, as on an S3 with 8 MB of
# octal PSRAM: internal RAM regions and the PSRAM region (the test may change these).
STATE = {"internal": [(31348, 2000, 1800, 1500), (340000, 120000, 110000, 90000)],
         "psram": [(8388608, 8000000, 7900000, 7800000)]}
_SPIRAM = 1 << 10  # ESP-IDF's MALLOC_CAP_SPIRAM


def idf_heap_info(*args, **kwargs):
    # The regions with the capabilities asked for: PSRAM alone for MALLOC_CAP_SPIRAM, every data
    # region (PSRAM too, with CONFIG_SPIRAM_USE_MALLOC) for HEAP_DATA.
    record("esp32.idf_heap_info", args, kwargs)
    if args[0] & _SPIRAM:
        return list(STATE["psram"])
    return STATE["internal"] + STATE["psram"]
