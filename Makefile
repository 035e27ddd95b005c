# ZipX: the two commands of the README, plus the UI. Each sets itself up on a fresh
# machine: a virtual environment with everything from PyPI (ffmpeg comes with the
# imageio-ffmpeg wheel, so no system package is needed for the spine).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export ZIPX_HOME ?= $(CURDIR)/.zipx
export DAGSTER_HOME ?= $(ZIPX_HOME)/dagster_home

.PHONY: setup demo test dev bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/python -m zipx_dagster.demo

test: setup
	bash scripts/system-packages.sh
	$(BIN)/python -m pytest

dev: setup
	$(BIN)/python -m zipx_dagster.serve --host 127.0.0.1 --port 3000

bench: setup
	$(BIN)/python bench/spine.py

clean:
	rm -rf $(ZIPX_HOME) test-artifacts
