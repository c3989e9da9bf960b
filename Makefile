# Everything runs from a local virtualenv that these targets create.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA_DIR ?= data

.PHONY: setup demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/vecstore demo --data-dir $(DATA_DIR)/demo

test: setup
	$(PY) -m pytest -q

# vecstore against its peers on the real data set (bench/README.md); ~30 min
bench: setup
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m bench.compare --dataset ../shared/datasets/pypi-minilm

clean:
	rm -rf $(VENV) $(DATA_DIR) .pytest_cache
