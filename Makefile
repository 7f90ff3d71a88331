# EnerLog datalogger firmware: set-up, tests, simulator, build and deploy.
# `make test` and `make sim` work on a fresh machine: they install everything they use.

VENV      := .venv
BIN       := $(VENV)/bin
PY        := $(BIN)/python
STAMP     := $(VENV)/.installed
STUBS     := $(VENV)/stubs-esp32
DEBS      := mosquitto mosquitto-clients chromium chromium-driver socat openssl mbpoll prometheus
PORT      ?=
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup deps debs lib test lint typecheck sim build flash upgrade bench soak fuzz clean

setup: deps debs lib

deps: $(STAMP)

$(STAMP): requirements.txt requirements-stubs.txt constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -c constraints.txt
	rm -rf $(STUBS)
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --target $(STUBS) -r requirements-stubs.txt
	touch $@

debs:
	tools/ensure_debs.sh $(DEBS)

lib: $(STAMP)
	$(PY) tools/fill_lib.py

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(PY) tools/typecheck.py

# Three workers, each test file on one (--dist loadfile): most tests wait on wire time, timeouts, a
# broker or a browser (two workers kept 2 cores only 1.2 busy on average), so three side by side
# take 3 min 40 s of pytest where two took 4 min 56 s (4 min 58 s with a CPU hog beside them).
test: setup lint typecheck
	$(BIN)/pytest -n 3 --dist loadfile --durations=15 host_tests

sim: setup
	$(PY) tools/sim/run.py --mqtt-port 1883

build: deps lib
	$(PY) tools/build.py --bundle

flash: build
	@test -n "$(PORT)" || { echo "usage: make flash PORT=/dev/ttyACM0 (or socket://127.0.0.1:7788)"; exit 2; }
	$(PY) tools/deploy.py --port "$(PORT)"

upgrade: build
	@test -n "$(PORT)" || { echo "usage: make upgrade PORT=/dev/ttyACM0 (or socket://127.0.0.1:7788)"; exit 2; }
	$(PY) tools/upgrade.py --port "$(PORT)"

bench: setup
	$(PY) -m bench

# The whole logger on a small heap (issue 10): make soak [SOAK="--duration 3600 --heap 704k"]
soak: setup
	$(PY) -m bench.soak $(SOAK)

# The API against docs/openapi.yaml, long (issue 21): make fuzz [FUZZ_EXAMPLES=100]
FUZZ_EXAMPLES ?= 100
fuzz: setup
	ENERLOG_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -s host_tests/test_api_fuzz.py

clean:
	rm -rf build run artifacts .pytest_cache .mypy_cache .ruff_cache
	find lib -mindepth 1 ! -name README.md -exec rm -rf {} +
