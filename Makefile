# Two entry points for a fresh machine: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,train]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/drsynth demo --out data

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/extract_throughput.py
	$(BIN)/python bench/ingest_memory.py
	$(BIN)/python bench/graph_build.py --sizes 1000,10000
	$(BIN)/python bench/graph_build.py --corpus wikidump --sizes 1000,10000

clean:
	rm -rf data .pytest_cache bench/out
