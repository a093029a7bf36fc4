# The README's two commands: `make run` and `make test`. Each sets everything up first.
# Set-up: a virtual environment, llama-cpp-python compiled for this machine (CUDA when nvcc
# and an NVIDIA GPU are present, Metal on Apple silicon, else CPU; HOSTBENCH_LLAMA_BACKEND
# or CMAKE_ARGS override), the project, a llama-server binary, and the default model.
# Native builds are cached under ~/.cache/hostbench/build, so only the first set-up compiles.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.hostbench-setup
BUILD := $(BIN)/python engines/llamacpp/build.py
DEFAULT_MODEL := smollm2-135m-instruct
PYTEST_ARGS ?=

.PHONY: run test setup lint screenshots clean

run: setup
	$(BIN)/hostbench

test: setup
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports && $(BIN)/mypy

setup: $(STAMP)

$(STAMP): pyproject.toml engines/llamacpp/build.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "llama.cpp backend: $$($(BUILD) backend)"
	@echo "Building llama-cpp-python if this machine has no cached build (about 10 minutes on 2 cores) ..."
	$(BIN)/python -m pip install --quiet "$$($(BUILD) wheel)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@echo "Building llama-server if this machine has no cached build (about 10 minutes on 2 cores) ..."
	$(BIN)/hostbench engines build
	$(BIN)/hostbench pull $(DEFAULT_MODEL)
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

screenshots: setup
	$(BIN)/python screenshots/make.py
