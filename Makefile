# Two commands do all the set-up on a fresh machine with Python >= 3.10:
#   make run   creates .venv if needed, installs the project, runs the main job (ARGS="--preset seed ...")
#   make test  the same install, then the test suite (PYTEST_ARGS="-k spec ...")
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python sweeps/grid.py $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/trial.py $(ARGS)
