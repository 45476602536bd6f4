# Two entry points for a fresh machine: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test lint bench reliability clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,train]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/drsynth demo --out data

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest

# the fault suite at its full setting (more kills, the whole hostile set), printing its figures
reliability: $(STAMP)
	DRSYNTH_RELIABILITY=full $(BIN)/python -m pytest -m reliability tests/reliability -s -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/extract_throughput.py
	$(BIN)/python bench/ingest_memory.py
	$(BIN)/python bench/graph_build.py --sizes 1000,10000
	$(BIN)/python bench/graph_build.py --corpus wikidump --sizes 1000,10000

clean:
	rm -rf data .pytest_cache bench/out
