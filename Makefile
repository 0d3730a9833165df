# xsell: `make run` serves the demo store with a worker; `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=

.PHONY: install run serve migrate demo test lint bench reliability clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,demo]'
	@touch $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py xsell_demo

run: demo
	$(PY) manage.py xsell_serve --host $(HOST) --port $(PORT)

serve: migrate
	$(PY) manage.py xsell_serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# Every benchmark suite of DESIGN.md section 7 at the bars' sizes (BENCH_ARGS="--scale 0.05" for
# a quick look); figures in var/bench/*.json, how to read them in docs/performance.md.
BENCH_ARGS ?=
bench: migrate
	$(PY) manage.py xsell_bench all $(BENCH_ARGS)

# The heavy fault tests (kill -9, PostgreSQL restart, load under gunicorn, atheris), then the rest
# of the reliability and security suites (those also run in `make test`).
reliability: $(STAMP)
	$(PY) -m pytest tests/reliability tests/security -m slow $(PYTEST_ARGS)
	$(PY) -m pytest tests/reliability tests/security -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
