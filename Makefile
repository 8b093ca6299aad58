# gaitloop: every install step lives here, so a fresh clone needs only `make demo` / `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install clean results results-quick

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip install --quiet --upgrade --target $(VENV)/mpstubs/rp2 micropython-rp2-stubs==1.29.0.post1
	$(PY) -m pip install --quiet --upgrade --target $(VENV)/mpstubs/esp32 micropython-esp32-stubs==1.29.0.post1
	touch $(STAMP)

install: $(STAMP)

# The demo: virtual boards running the real firmware under MicroPython walk on a shipped
# gaitpdb recording; the host streams them over serial, records, exports and reports.
demo: $(STAMP)
	$(VENV)/bin/gaitloop demo

# All tests: firmware under real MicroPython and CPython, host, end to end.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	for b in tools/bench/bench_*.py; do $(PY) $$b || exit 1; done

# Deterministic headline figures recomputed on fixed inputs and checked against
# docs/results.json and the doc pages; non-zero exit when one differs (~1.5-2 min here,
# valgrind included). Needs ../shared/data
# (or GAITLOOP_DATA).
results-quick: $(STAMP)
	$(PY) tools/results.py

# Everything results-quick checks, then every benchmark (and the KNN/SVM and MGait-floor
# scripts), each timed, ending with a table of how long each took; then the list of the long
# runs (training, Table 5 protocol) with their commands and durations, which it does not start.
results: $(STAMP)
	$(PY) tools/results.py
	$(PY) tools/results.py --benches
	$(PY) tools/results.py --list

clean:
	rm -rf $(VENV) out .pytest_cache
