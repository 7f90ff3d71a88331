"""Host-side (CPython) checks of the ENERLOG_S3 MicroPython board definition.

No MicroPython checkout or ESP-IDF is needed: manifest.py is executed with stub
manifest functions, the C/CMake files are checked textually, and
tools/build_image.sh is only syntax-checked and run far enough to see that it
refuses to start without its environment.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import _missing

REPO = Path(__file__).resolve().parent.parent
BOARD_DIR = REPO / "firmware" / "boards" / "ENERLOG_S3"
MANIFEST = BOARD_DIR / "manifest.py"
BUILD_SCRIPT = REPO / "tools" / "build_image.sh"
MICRODOT_DIR = REPO / "lib" / "microdot"

# Values for the $(VAR)s of micropython's tools/manifestfile.py. There is no
# MicroPython checkout here, so MPY_DIR/PORT_DIR point nowhere; paths under
# them are recorded but never checked.
FAKE_MPY_DIR = "/nonexistent/micropython"
PATH_VARS = {
    "MPY_DIR": FAKE_MPY_DIR,
    "MPY_LIB_DIR": FAKE_MPY_DIR + "/lib/micropython-lib",
    "PORT_DIR": FAKE_MPY_DIR + "/ports/esp32",
    "BOARD_DIR": str(BOARD_DIR),
}


def _resolve(path):
    # Same as ManifestFile._resolve_path: substitute $(VAR)s, then make the
    # path absolute against the current directory (the manifest's directory
    # while it runs).
    for name, value in PATH_VARS.items():
        path = path.replace("$({})".format(name), value)
    return Path(os.path.abspath(path))


def _run_manifest(manifest=MANIFEST):
    """Execute ``manifest`` like manifestfile.py does; return the calls made.

    Each call is (function, raw args, resolved paths). The stubs take the same
    parameters as the real functions, and only the functions the brief allows
    exist, so anything else in the manifest raises.
    """
    calls = []

    def include(manifest_path, is_require=False, **kwargs):
        paths = [manifest_path] if isinstance(manifest_path, str) else list(manifest_path)
        calls.append(("include", paths, {"manifest": [_resolve(p) for p in paths]}))

    def freeze(path, script=None, opt=None):
        calls.append(("freeze", (path, script), {"base": _resolve(path)}))

    def package(package_path, files=None, base_path=".", opt=None):
        base = _resolve(base_path)
        calls.append(
            (
                "package",
                (package_path, files),
                {"base": base, "package": base / package_path, "files": list(files or [])},
            )
        )

    def module(module_path, base_path=".", opt=None):
        base = _resolve(base_path)
        calls.append(("module", (module_path,), {"base": base, "module": base / module_path}))

    def require(name, version=None, pypi=None, library=None, **kwargs):
        calls.append(("require", (name,), {}))

    def metadata(**kwargs):
        calls.append(("metadata", kwargs, {}))

    manifest_globals = {
        "include": include,
        "freeze": freeze,
        "package": package,
        "module": module,
        "require": require,
        "metadata": metadata,
    }
    prev_cwd = os.getcwd()
    os.chdir(manifest.parent)  # manifestfile.py runs a manifest from its own directory
    try:
        exec(compile(manifest.read_text(), str(manifest), "exec"), manifest_globals)
    finally:
        os.chdir(prev_cwd)
    return calls


@pytest.fixture(scope="module")
def manifest_calls():
    return _run_manifest()


def _app_paths(calls, microdot):
    """Filesystem paths the manifest names for our app (includes excluded).

    microdot=True gives those of the lib/microdot package (including its
    base_path lib/), False all the others.
    """
    for func, args, paths in calls:
        if func not in ("package", "module", "freeze"):
            continue
        if (func == "package" and args[0] == "microdot") != microdot:
            continue
        yield paths["base"]
        if func == "package":
            yield paths["package"]
            for f in paths["files"]:
                yield paths["package"] / f
        if func == "module":
            yield paths["module"]


def _uncomment_c(text):
    return re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)


def _uncomment_cmake(text):
    return re.sub(r"#[^\n]*", "", text)


# --- manifest.py -------------------------------------------------------------


def test_manifest_includes_port_default_first(manifest_calls):
    func, args, _paths = manifest_calls[0]
    assert (func, args) == ("include", ["$(PORT_DIR)/boards/manifest.py"])


def test_manifest_freezes_firmware_and_microdot(manifest_calls):
    packages = {args[0]: paths for func, args, paths in manifest_calls if func == "package"}
    assert set(packages) == {"firmware", "microdot"}
    assert packages["firmware"]["package"] == REPO / "firmware"
    assert packages["microdot"]["package"] == MICRODOT_DIR


def test_manifest_app_paths_exist(manifest_calls):
    paths = list(_app_paths(manifest_calls, microdot=False))
    assert paths
    missing = [str(p) for p in paths if not p.exists()]
    assert not missing, "manifest names paths that do not exist: {}".format(missing)


def test_manifest_microdot_paths_exist(manifest_calls):
    # lib/ is filled by the project's set-up: outside CI a missing lib/microdot skips, under CI it fails.
    if not MICRODOT_DIR.is_dir():
        _missing("lib/microdot is not set up (make test fills it)")
    paths = list(_app_paths(manifest_calls, microdot=True))
    assert paths
    missing = [str(p) for p in paths if not p.exists()]
    assert not missing, "manifest names paths that do not exist: {}".format(missing)


def test_manifest_leaves_boot_main_and_board_files_out(manifest_calls):
    for func, args, paths in manifest_calls:
        if func == "module":
            assert Path(args[0]).name not in ("boot.py", "main.py")
        if func == "freeze":
            # freeze() of a whole directory could pick up boot.py/main.py.
            assert args[1] is not None and Path(args[1]).name not in ("boot.py", "main.py")
        if func == "package" and args[0] == "firmware":
            # firmware/boards/ holds this board definition, not app code; a
            # package() without a file list would freeze it too.
            assert paths["files"], "firmware needs an explicit file list"
            assert not [f for f in paths["files"] if Path(f).parts[0] == "boards"]


# --- mpconfigboard.h ---------------------------------------------------------


def test_uart_repl_disabled():
    text = _uncomment_c((BOARD_DIR / "mpconfigboard.h").read_text())
    values = re.findall(r"^\s*#\s*define\s+MICROPY_HW_ENABLE_UART_REPL\b(.*)$", text, flags=re.M)
    assert len(values) == 1, values
    assert re.fullmatch(r"\s*\(?\s*0\s*\)?\s*", values[0]), values[0]


# --- mpconfigboard.cmake / board.json ----------------------------------------


def _cmake_text():
    return _uncomment_cmake((BOARD_DIR / "mpconfigboard.cmake").read_text())


def _board_local(token):
    for var in ("${MICROPY_BOARD_DIR}", "${CMAKE_CURRENT_LIST_DIR}"):
        if token.startswith(var):
            return BOARD_DIR / token[len(var) :].lstrip("/")
    return None


def test_cmake_targets_esp32s3():
    targets = re.findall(r"\bset\s*\(\s*IDF_TARGET\s+(\S+?)\s*\)", _cmake_text())
    assert targets and set(targets) == {"esp32s3"}


def test_cmake_uses_this_manifest():
    values = re.findall(r"\bset\s*\(\s*MICROPY_FROZEN_MANIFEST\s+(\S+?)\s*\)", _cmake_text())
    assert len(values) == 1, values
    path = _board_local(values[0].strip('"'))
    assert path is not None and path.resolve() == MANIFEST.resolve()


def test_cmake_local_sdkconfig_defaults_exist():
    tokens = []
    text = "".join(_uncomment_cmake(p.read_text()) for p in sorted(BOARD_DIR.glob("*.cmake")))
    for body in re.findall(
        r"\b(?:set|list\s*\(\s*APPEND)\s*\(?\s*SDKCONFIG_DEFAULTS\b([^)]*)\)", text
    ):
        tokens += body.split()
    local = [_board_local(t) for t in tokens if _board_local(t)]
    missing = [str(p) for p in local if not p.is_file()]
    assert not missing, "SDKCONFIG_DEFAULTS names missing files: {}".format(missing)
    # The other way round: no sdkconfig file in the board dir is silently unused.
    unused = {p.name for p in BOARD_DIR.glob("sdkconfig*")} - {p.name for p in local}
    assert not unused, "sdkconfig files not in SDKCONFIG_DEFAULTS: {}".format(unused)


def test_board_json():
    board = json.loads((BOARD_DIR / "board.json").read_text())
    assert board["mcu"] == "esp32s3"


# --- tools/build_image.sh ----------------------------------------------------


def test_build_script_syntax():
    subprocess.run(["bash", "-n", str(BUILD_SCRIPT)], check=True)


def _run_build_script(tmp_path, env_updates, env_removals):
    # Stand-in make/idf.py first on PATH: if the script got as far as building,
    # they leave a marker behind.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    marker = tmp_path / "build-started"
    for tool in ("make", "idf.py"):
        stub = bindir / tool
        stub.write_text("#!/bin/sh\ntouch '{}'\n".format(marker))
        stub.chmod(0o755)
    env = dict(os.environ)
    for name in env_removals:
        env.pop(name, None)
    env.update(env_updates)
    env["PATH"] = "{}{}{}".format(bindir, os.pathsep, env.get("PATH", ""))
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, marker.exists()


def test_build_script_requires_micropy_dir(tmp_path):
    result, started = _run_build_script(
        tmp_path, {"IDF_PATH": str(tmp_path)}, ["MICROPY_DIR"]
    )
    assert result.returncode != 0
    assert "MICROPY_DIR is not set" in result.stderr
    assert not started


def test_build_script_requires_esp_idf(tmp_path):
    micropython = tmp_path / "micropython"
    (micropython / "ports" / "esp32").mkdir(parents=True)
    (micropython / "ports" / "esp32" / "Makefile").touch()
    result, started = _run_build_script(tmp_path, {"MICROPY_DIR": str(micropython)}, ["IDF_PATH"])
    assert result.returncode != 0
    assert "IDF_PATH is not set" in result.stderr
    assert not started


def test_unix_manifest_freezes_the_same_application():
    # firmware/boards/UNIX: the unix port with the application frozen in, a PC stand-in for the
    # board's heap (bench/soak.py --micropython). asyncio from the MicroPython tree, then ours.
    calls = _run_manifest(REPO / "firmware" / "boards" / "UNIX" / "manifest.py")
    assert calls[0][:2] == ("include", ["$(MPY_DIR)/extmod/asyncio"])
    packages = {args[0]: paths["base"] for func, args, paths in calls if func == "package"}
    assert packages == {"firmware": REPO, "microdot": REPO / "lib"}
    assert [c[0] for c in calls] == ["include", "package", "package"]
