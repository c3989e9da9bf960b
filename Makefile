# Everything runs from a local virtualenv that these targets create.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA_DIR ?= data
HOST ?= 127.0.0.1
PORT ?= 50051

.PHONY: setup serve demo test proto bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

# the gRPC daemon on ./data (embedded LMDB storage; nothing else to run)
serve: setup
	$(VENV)/bin/vecstore serve --data-dir $(DATA_DIR) --host $(HOST) --port $(PORT)

demo: setup
	$(VENV)/bin/vecstore demo --data-dir $(DATA_DIR)/demo

test: setup
	$(PY) -m pytest -q

# regenerate vecstore/rpc/v1/ from proto/vecstore/v1/vecstore.proto
proto: setup
	$(PY) proto/generate.py

# vecstore against its peers on the real data set (bench/README.md); ~30 min
bench: setup
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m bench.compare --dataset ../shared/datasets/pypi-minilm

clean:
	rm -rf $(VENV) $(DATA_DIR) .pytest_cache
