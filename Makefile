# Two commands on a fresh machine: `make run` opens the app, `make test` runs the tests.
# Both create .venv on first use and reinstall only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch first and pinned: 2.13.0 is the CPU build this machine keeps on disk; left unpinned, pip would
# fetch a multi-gigabyte CUDA build to satisfy pyproject's range.
TORCH ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: run test setup bench wheel-check clean distclean

run: $(STAMP)
	$(BIN)/latent-studio $(ARGS)

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS)

# The wheel as a user installs it (CI runs this after the tests): build, install into a fresh venv, run.
wheel-check: $(STAMP)
	.ci/wheel_roundtrip

bench: $(STAMP)
	$(BIN)/python bench/dcgan_latency.py

setup: $(STAMP)

# bin/pip, not bin/python: a venv made without ensurepip (Debian lacking python3-venv) has python but no
# pip, and running venv again over it completes it.
$(BIN)/pip:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/pip
	$(BIN)/python -m pip install '$(TORCH)'
	$(BIN)/python -m pip install -e '.[dev,onnx,align,ray]'
	touch $(STAMP)

clean:
	rm -rf build *.egg-info .pytest_cache

distclean: clean
	rm -rf $(VENV)
