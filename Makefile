# Two entry points (see README): `make run` and `make test`. Everything else is a step of those.
VENV ?= .venv
PY := $(VENV)/bin/python
SAMTYCKE := $(VENV)/bin/samtycke
PORT ?= 5000

.PHONY: run test install system-deps lint bench i18n

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

system-deps:
	./scripts/install-system-deps

run: install system-deps
	$(SAMTYCKE) db upgrade
	$(SAMTYCKE) demo
	$(SAMTYCKE) serve --host 127.0.0.1 --port $(PORT)

test: install system-deps
	./scripts/test

lint: install
	$(VENV)/bin/ruff check app consent signing reports migrations tests bench

bench: install system-deps
	$(PY) bench/bench_rights.py $(BENCH_ARGS)
	$(PY) bench/bench_records.py
	$(PY) bench/bench_writes.py $(BENCH_WRITES_ARGS)
	$(PY) bench/bench_jobs.py

i18n: install
	./scripts/i18n
