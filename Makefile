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
	@# a fresh environment is about 7 GB (torch's CUDA build alone is 5.6 GB): say so before pip fails half-way
	@[ -d $(VENV) ] || { free_mb=$$(df -Pm . | awk 'NR==2 {print $$4}'); [ "$$free_mb" -ge 7000 ] || { \
		echo "make: the virtual environment needs about 7 GB free here, and $$free_mb MB are" >&2; exit 1; }; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-cache-dir -e '.[dev]'
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
