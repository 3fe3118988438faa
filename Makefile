# mlstarter: the template's own commands. Quick start: `make demo`, then `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo

.PHONY: help demo test test-fast test-faults lint bake bench clean
help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'

$(BIN)/.installed: requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -r requirements-dev.txt
	touch $@

demo: $(BIN)/.installed  ## set up .venv, bake the default project into demo/, run its offline smoke
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/cookiecutter . --no-input -o $(DEMO)
	PYTHONPATH=$(CURDIR)/$(DEMO)/digit-recognizer/src \
		$(MAKE) -C $(DEMO)/digit-recognizer smoke PYTHON=$(CURDIR)/$(BIN)/python

test: $(BIN)/.installed  ## every test: the template's, and each baked project's own suite
	$(BIN)/python -m pytest

test-fast: $(BIN)/.installed  ## the tests that train nothing
	$(BIN)/python -m pytest -m "not slow"

test-faults: $(BIN)/.installed  ## the fault matrix alone (every command x network, disk, data faults); prints it
	$(BIN)/python -m pytest -m faults

lint: $(BIN)/.installed  ## ruff over the template's Python (the generated sources hold no Jinja)
	$(BIN)/ruff check --config ruff.toml . && $(BIN)/ruff format --check --config ruff.toml .

bake: $(BIN)/.installed  ## bake the default answers into build/ to look around
	$(BIN)/cookiecutter . --no-input -o build --overwrite-if-exists

bench: $(BIN)/.installed  ## training and data throughput, as ratios measured side by side
	$(BIN)/python bench/run.py

clean:  ## remove what the targets made (keeps .venv)
	rm -rf $(DEMO) build .pytest_cache
