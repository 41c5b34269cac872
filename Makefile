# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LIFELINE_DB ?= sqlite:///var/lifeline.db
export LIFELINE_DB

.PHONY: demo test bench lint install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	mkdir -p var
	$(BIN)/lifeline db upgrade
	$(BIN)/lifeline demo-data
	$(BIN)/lifeline serve --host 127.0.0.1 --port 8080

lint: install-dev
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy src

test: lint
	$(BIN)/python -m pytest

bench: install-dev
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var/*.db var/*.db-wal var/*.db-shm
