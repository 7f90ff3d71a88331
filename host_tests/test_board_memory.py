"""The ENERLOG_S3 board definition selects what the named boards carry: octal PSRAM, 16 MB of flash.

No MicroPython checkout or ESP-IDF is at hand, so the few facts of MicroPython's own files this
needs are kept below as data, with their source: micropython/micropython master at 1c3c201149
(v1.29.0-preview-731, 2026-08-19), the 1.29 line the stubs (micropython-esp32-stubs 1.29.0) and
the board's cmake follow (``mpconfigboard_esp32s3_common.cmake`` and ``sdkconfig.spiram_quad``
first appear there; the v1.29.0-preview tag has neither). The test then does what the port's
CMakeLists.txt does (include the board's .cmake, then its variant's, concatenate the
SDKCONFIG_DEFAULTS files in order, later lines winning) and checks the resulting settings and the
partition table. What it cannot show: that ESP-IDF builds it, and that the chip finds its PSRAM.
"""

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BOARD_DIR = REPO / "firmware" / "boards" / "ENERLOG_S3"
MIB = 1024 * 1024

# --- facts of MicroPython 1c3c201149, ports/esp32/ ------------------------------------------------

# boards/mpconfigboard_esp32s3_common.cmake: the list it starts SDKCONFIG_DEFAULTS with.
UPSTREAM_S3_COMMON = ["boards/sdkconfig.base", "boards/sdkconfig.ble", "boards/sdkconfig.spiram_quad"]

# The lines of the port's sdkconfig files that concern memory (other lines left out).
UPSTREAM_SDKCONFIG = {
    "boards/sdkconfig.base": {  # lines 105-107
        "CONFIG_ESPTOOLPY_FLASHSIZE_4MB": "y",
        "CONFIG_PARTITION_TABLE_CUSTOM": "y",
        "CONFIG_PARTITION_TABLE_CUSTOM_FILENAME": '"partitions-4MiBplus.csv"',
    },
    "boards/sdkconfig.ble": {},
    "boards/sdkconfig.spiram_quad": {
        "CONFIG_SPIRAM_MODE_QUAD": "y",
        "CONFIG_SPIRAM_SPEED_80M": "y",
        "CONFIG_SPIRAM": "y",
        "CONFIG_SPIRAM_BOOT_INIT": "y",
        "CONFIG_SPIRAM_IGNORE_NOTFOUND": "y",
        "CONFIG_SPIRAM_USE_MALLOC": "y",
        "CONFIG_SPIRAM_MALLOC_ALWAYSINTERNAL": "8192",
    },
    "boards/sdkconfig.spiram_oct": {"CONFIG_SPIRAM_MODE_QUAD": "", "CONFIG_SPIRAM_MODE_OCT": "y"},
    "boards/sdkconfig.240mhz": {
        "CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ_40": "",
        "CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ_80": "",
        "CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ_160": "",
        "CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ_240": "y",
        "CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ": "240",
    },
    "boards/sdkconfig.flash_qio_80m": {"CONFIG_ESPTOOLPY_FLASHMODE_QIO": "y", "CONFIG_ESPTOOLPY_FLASHFREQ_80M": "y"},
}

# boards/ESP32_GENERIC_S3/mpconfigvariant_SPIRAM_OCT.cmake: what MicroPython's own octal variant
# appends to SDKCONFIG_DEFAULTS.
UPSTREAM_OCTAL_VARIANT = ["boards/sdkconfig.240mhz", "boards/sdkconfig.spiram_oct"]

# partitions-4MiBplus.csv (the stock table): the app partition ends at 2 MiB.
UPSTREAM_4MIBPLUS = [("nvs", "data", "nvs", 0x9000, 0x6000), ("phy_init", "data", "phy", 0xF000, 0x1000),
                     ("factory", "app", "factory", 0x10000, 0x1F0000)]

# modules/flashbdev.py: the filesystem is the data partition labelled "vfs" (or "ffat"); main.c
# adds a "vfs" from the end of the last partition to the end of the flash when there is none.
UPSTREAM_FS_LABELS = ("vfs", "ffat")
# The ESP-IDF bootloader and partition table sit below 0x9000; app partitions are 64 KiB aligned.
FIRST_FREE = 0x9000
APP_ALIGN = 0x10000

# Octal PSRAM is wired to GPIO33-37 on the ESP32-S3 (ESP32-S3 datasheet, "PSRAM" pins; platform.md).
OCTAL_PSRAM_PINS = set(range(33, 38))


# --- the port's CMakeLists.txt, as far as this needs it -------------------------------------------


def _strip(text):
    return re.sub(r"#[^\n]*", "", text)


def _defaults(variant, binary_dir):
    """SDKCONFIG_DEFAULTS after the board's and the variant's .cmake, and the generated files."""
    files = [BOARD_DIR / "mpconfigboard.cmake"]
    files.append(BOARD_DIR / ("mpconfigvariant_%s.cmake" % variant if variant else "mpconfigvariant.cmake"))
    out, generated = [], {}
    subst = {"${MICROPY_BOARD_DIR}": str(BOARD_DIR), "${CMAKE_BINARY_DIR}": binary_dir}

    def expand(s):
        for k, v in subst.items():
            s = s.replace(k, v)
        return s

    for path in files:
        if not path.is_file():  # an optional variant file (the port includes it OPTIONAL)
            assert not variant, "variant %s has no %s" % (variant, path.name)
            continue
        text = _strip(path.read_text())
        for m in re.finditer(r'\b(include|set|list|file)\s*\(((?:[^()"]|"(?:[^"\\]|\\.)*")*)\)', text):
            cmd, args = m.group(1), m.group(2)
            if cmd == "include":
                assert args.strip() == "boards/mpconfigboard_esp32s3_common.cmake", args
                out = list(UPSTREAM_S3_COMMON)
            elif cmd == "file":
                w = re.match(r'\s*WRITE\s+(\S+)\s+"((?:[^"\\]|\\.)*)"\s*$', args, re.S)
                assert w, "unexpected file(%s)" % args
                body = expand(w.group(2)).replace('\\"', '"').replace("\\n", "\n")
                generated[expand(w.group(1))] = body
            elif re.match(r"\s*(APPEND\s+)?SDKCONFIG_DEFAULTS\b", args):
                tokens = args.split()
                if tokens[0] == "APPEND":
                    tokens = tokens[1:]
                elif cmd == "set":
                    out = []
                out += [expand(t) for t in tokens[1:] if t != "${SDKCONFIG_DEFAULTS}"]
    return out, generated


def _parse_sdkconfig(text):
    cfg = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            cfg[key] = value
    return cfg


def _merged(variant, tmp_path):
    """The settings the port hands ESP-IDF: every default file in order, later lines winning."""
    files, generated = _defaults(variant, str(tmp_path))
    cfg = {}
    for name in files:
        if name in UPSTREAM_SDKCONFIG:
            cfg.update(UPSTREAM_SDKCONFIG[name])
        elif name in generated:
            cfg.update(_parse_sdkconfig(generated[name]))
        else:
            path = Path(name)
            assert path.is_absolute() and path.is_file(), "SDKCONFIG_DEFAULTS names %s" % name
            cfg.update(_parse_sdkconfig(path.read_text()))
    return files, cfg


def _partitions(path):
    rows = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, typ, sub, off, size = [c.strip() for c in line.split(",")[:5]]
            rows.append((name, typ, sub, int(off, 0), int(size, 0)))
    return rows


def _flash_bytes(cfg):
    sizes = [k[len("CONFIG_ESPTOOLPY_FLASHSIZE_"):] for k, v in cfg.items()
             if k.startswith("CONFIG_ESPTOOLPY_FLASHSIZE_") and v == "y"]
    assert len(sizes) == 1, "flash size chosen %d times: %s" % (len(sizes), sizes)
    return int(sizes[0].rstrip("MB")) * MIB


# --- the default build: the named boards -----------------------------------------------------------


def test_default_build_selects_octal_psram_like_micropythons_own_octal_variant(tmp_path):
    files, cfg = _merged(None, tmp_path)
    # The upstream octal variant's files, in its order, after the common S3 ones.
    at = [files.index(f) for f in UPSTREAM_OCTAL_VARIANT]
    assert at == sorted(at) and at[0] > files.index("boards/sdkconfig.spiram_quad"), files
    assert cfg["CONFIG_SPIRAM"] == "y" and cfg["CONFIG_SPIRAM_MODE_OCT"] == "y"
    assert cfg["CONFIG_SPIRAM_MODE_QUAD"] == "", "the quad setting does not find octal PSRAM"
    assert cfg["CONFIG_SPIRAM_USE_MALLOC"] == "y"  # the MicroPython heap may live in PSRAM


def test_default_build_is_a_16mb_layout_with_a_large_filesystem(tmp_path):
    _, cfg = _merged(None, tmp_path)
    flash = _flash_bytes(cfg)
    assert flash == 16 * MIB
    assert cfg["CONFIG_PARTITION_TABLE_CUSTOM"] == "y"
    table = Path(cfg["CONFIG_PARTITION_TABLE_CUSTOM_FILENAME"].strip('"'))
    assert table.is_absolute() and table.parent == BOARD_DIR and table.is_file(), table
    rows = _partitions(table)
    end = FIRST_FREE
    for name, typ, _sub, off, size in sorted(rows, key=lambda r: r[3]):
        assert off >= end, "%s overlaps the partition before it" % name
        if typ == "app":
            assert off % APP_ALIGN == 0, "%s is not 64 KiB aligned" % name
        end = off + size
    assert end <= flash, "the table runs past the end of the flash"
    apps = [r for r in rows if r[1] == "app"]
    fs = [r for r in rows if r[1] == "data" and r[0] in UPSTREAM_FS_LABELS]
    assert len(apps) == 1 and apps[0][4] >= UPSTREAM_4MIBPLUS[2][4], "app smaller than the stock one"
    assert len(fs) == 1 and fs[0][0] == "vfs", "flashbdev.py would not find the filesystem"
    assert fs[0][4] >= 12 * MIB and fs[0][3] + fs[0][4] == flash  # the rest of the flash
    # The stock table's small partitions, unchanged.
    assert [r for r in rows if r[1] == "data" and r[0] != "vfs"] == UPSTREAM_4MIBPLUS[:2]


def test_flash_4m_variant_keeps_the_generic_s3_memory_settings(tmp_path):
    _, cfg = _merged("FLASH_4M", tmp_path)
    assert _flash_bytes(cfg) == 4 * MIB
    assert cfg["CONFIG_SPIRAM_MODE_QUAD"] == "y" and "CONFIG_SPIRAM_MODE_OCT" not in cfg
    assert cfg["CONFIG_SPIRAM_IGNORE_NOTFOUND"] == "y"  # a module without PSRAM still boots
    assert cfg["CONFIG_PARTITION_TABLE_CUSTOM_FILENAME"] == '"partitions-4MiBplus.csv"'


def test_board_name_comes_from_the_variant():
    # mpconfigboard.h may only default the name (#ifndef), or the variant's -D would clash.
    text = re.sub(r"//[^\n]*", "", (BOARD_DIR / "mpconfigboard.h").read_text())
    assert re.search(r"#ifndef\s+MICROPY_HW_BOARD_NAME\s*\n\s*#define\s+MICROPY_HW_BOARD_NAME", text)
    for path in BOARD_DIR.glob("mpconfigvariant*.cmake"):
        assert "MICROPY_HW_BOARD_NAME=" in path.read_text(), path.name


def test_board_json_lists_the_variants_that_exist():
    board = json.loads((BOARD_DIR / "board.json").read_text())
    files = {p.name[len("mpconfigvariant_"):-len(".cmake")] for p in BOARD_DIR.glob("mpconfigvariant_*.cmake")}
    assert set(board["variants"]) == files
    assert "External RAM" in board["features"]


@pytest.mark.parametrize("name", ["waveshare-esp32-s3-eth", "lilygo-t-eth-lite-s3"])
def test_esp32_profiles_leave_the_octal_psram_pins_alone(name):
    profile = json.loads((REPO / "firmware" / "boards" / (name + ".json")).read_text())
    pins = set()

    def walk(obj, key=""):
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, k)
        elif isinstance(obj, list):
            for v in obj:
                walk(v, key)
        elif isinstance(obj, int) and not isinstance(obj, bool) and key not in (
                "port", "spi", "uart", "channel", "phy_addr"):
            pins.add(obj)

    walk({k: v for k, v in profile.items() if k != "http"})
    assert len(pins) >= 15, pins  # the walk found the pins (6 LEDs, 9 RS485, 6 SPI, button)
    assert not pins & OCTAL_PSRAM_PINS, sorted(pins & OCTAL_PSRAM_PINS)
