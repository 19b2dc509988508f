# Two commands do everything: `make run` and `make test`. Both install what is missing first.
PY := .venv/bin/python
HOST ?= 0.0.0.0

.PHONY: run test test-future install install-dev models voice lint format bench clean

# exec: no shell between make and the runner; --watch-parent: make keeps a SIGINT sent to
# its own process to itself, so the runner notices it and stops both services.
run: install
	exec $(PY) run_services.py --watch-parent

test: install-dev
	$(PY) -m ruff check .
	$(PY) -m pytest
	$(MAKE) --no-print-directory test-future

## The tests that decide by the calendar (marker `time_dependent`) once more, with the clock
## 400 days ahead (libfaketime): a test that passes only near the day it was written fails here.
## Monotonic clocks are faked too: libfaketime's real-monotonic mode breaks Python's sleeps.
test-future: install-dev
	faketime -f '+400d' $(PY) -m pytest -m time_dependent -p no:cacheprovider

install:
	bash scripts/install.sh

install-dev:
	bash scripts/install.sh --dev

## Download the production XTTS v2 checkpoint and Whisper model into models/ (needs internet).
models: install
	$(PY) model_download.py

## Precompute and cache the cloned voice's conditioning latents from every clip in Лидия/.
voice: install
	$(PY) -m manage voice prepare

lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install-dev
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: install-dev
	$(PY) -m bench
	$(PY) -m bench.bench_journal

clean:
	rm -rf temp/* .pytest_cache .ruff_cache
