# The two commands of the README, and a few more.  Everything installs into .venv/
# from PyPI; nothing needs to be pre-installed beyond Python 3.11+, gcc, git and make.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint down status bench-engine bench-pipeline bench-capacity bench-api bench-recovery bench-streams clean

$(STAMP): requirements.txt requirements-dev.txt matcher/requirements.txt gateway/requirements.txt infra/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing Python dependencies into $(VENV) ..."
	@$(PY) -m pip install --disable-pip-version-check -q --upgrade pip
	@$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	@touch $(STAMP)

## run: set up and run the whole exchange locally (http://127.0.0.1:8000)
run: $(STAMP)
	$(PY) -m devstack up

## test: set up, lint (ruff, mypy) and run the whole test suite
# four lanes side by side (pytest-xdist), each a session with servers of its own; which
# folder runs in which lane: LANES in tests/conftest.py
test: $(STAMP) lint
	@sh scripts/ensure-chromium.sh
	$(PY) -m pytest -n 4

## lint: ruff with the rules in ruff.toml, mypy with mypy.ini (CI fails on a finding, through make test)
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

down: $(STAMP)
	$(PY) -m devstack down

status: $(STAMP)
	$(PY) -m devstack status

## bench-engine: the matching-engine benchmark against the PyPI order books
bench-engine: $(STAMP)
	$(PY) -m pip install --disable-pip-version-check -q -r bench/requirements.txt
	$(PY) bench/engine/run.py

## bench-pipeline: the whole local pipeline for 60 s, against moto's own ceiling
bench-pipeline: $(STAMP)
	$(PY) bench/pipeline.py --seconds 60

## bench-capacity: what one matcher process (and three, on disjoint symbols) settles, with a profile
bench-capacity: $(STAMP)
	$(PY) bench/capacity.py --rates 0 --seconds 1 --groups 1,3 --runs 3

## bench-recovery: the matcher's takeover -> first match when it rebuilds a book of 10k / 100k orders from Aurora
bench-recovery: $(STAMP)
	$(PY) bench/recovery.py --sizes 10000,100000 --runs 3

## bench-streams: the stream gateway's fan-out to 100 / 1,000 / 5,000 subscribers (latency, CPU, memory per connection)
bench-streams: $(STAMP)
	$(PY) bench/streams.py --runs 3

## bench-api: Lambda cold start (import) and warm handler overhead
bench-api: $(STAMP)
	$(PY) -m bench.api_coldstart

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
