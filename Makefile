# Two entry points (see README): `make all` (set up, measure, check, report) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
export MLFLOW_TRACKING_URI ?= sqlite:///$(abspath mlflow.db)

.PHONY: all setup measure claims test test-unit bench ui clean

all: setup measure claims
	@echo "Report: reports/claims.md (and reports/claims.html); MLflow: make ui"

setup: $(VENV)/.installed

# pip takes torch 2.14.1 / torchvision 0.29.1 from this machine class's local wheel store (see README)
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

measure: setup
	$(BIN)/dvc repro

claims: setup
	$(BIN)/python -m pytest claims/ -n auto

test: setup
	$(BIN)/python -m pytest tests/ -n auto
	$(BIN)/python -m pytest claims/ -n auto

bench: setup
	$(BIN)/python scripts/benchmark.py

ui: setup
	$(BIN)/mlflow ui --backend-store-uri $(MLFLOW_TRACKING_URI)

clean:
	rm -rf $(VENV) mlflow.db
