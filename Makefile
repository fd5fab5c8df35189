# Every target bootstraps .venv from nothing (python3 -m venv + pip install -e '.[dev]').
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run samples test lint typecheck bench bench-run bench-instructions bench-instructions-run test-all fuzz soak clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# The notes example on an embedded DynamoDB behind `lambda-asgi serve` (PORT=3000 by default).
run: $(STAMP)
	$(BIN)/python examples/run_notes.py

# Every sample event of events/ through the hello example's handler.
samples: $(STAMP)
	$(BIN)/python examples/run_samples.py

test: $(STAMP) lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy

# Lambda's Python runtimes are 3.12+, where the bridge starts tasks eagerly: benchmark there
# when the machine has it (its own venv), else with the default Python.
BENCH_PYTHON ?= $(shell ls -d $$HOME/.pyenv/versions/3.12*/bin/python3 2>/dev/null | sort -V | tail -n 1)

bench:
	@if [ -n "$(BENCH_PYTHON)" ]; then \
	  $(MAKE) --no-print-directory bench-run PYTHON=$(BENCH_PYTHON) VENV=.venv-3.12; \
	else \
	  $(MAKE) --no-print-directory bench-run; \
	fi

bench-run: $(STAMP)
	$(BIN)/python benchmarks/run.py

# Deterministic companion of `make bench`: instructions per invocation under valgrind.
bench-instructions:
	@if [ -n "$(BENCH_PYTHON)" ]; then \
	  $(MAKE) --no-print-directory bench-instructions-run PYTHON=$(BENCH_PYTHON) VENV=.venv-3.12; \
	else \
	  $(MAKE) --no-print-directory bench-instructions-run; \
	fi

bench-instructions-run: $(STAMP)
	$(BIN)/python benchmarks/instructions.py

# The fuzz tests with many more examples per event source than `make test` runs.
FUZZ_EXAMPLES ?= 20000
fuzz: $(STAMP)
	LAMBDA_ASGI_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/test_fuzz.py --timeout=3600 -q

# 100,000 mixed invocations in one process; fails if memory, objects or tasks grow.
soak: $(STAMP)
	$(BIN)/python benchmarks/soak.py

# The suite on each Python the machine has under pyenv (3.11, 3.12, 3.13).
test-all:
	@set -e; for v in 3.11 3.12 3.13; do \
	  py=$$(ls -d $$HOME/.pyenv/versions/$$v*/bin/python3 2>/dev/null | sort -V | tail -n 1); \
	  if [ -z "$$py" ]; then py=$$(command -v python$$v || true); fi; \
	  if [ -z "$$py" ]; then echo "python $$v not found"; exit 1; fi; \
	  echo "== Python $$v ($$py)"; \
	  $(MAKE) --no-print-directory test PYTHON=$$py VENV=.venv-$$v; \
	done

clean:
	rm -rf $(VENV) .venv-3.* .pytest_cache .mypy_cache .ruff_cache
