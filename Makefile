# The README's two commands: `make run` and `make test`. Each sets everything up first.
# Set-up: a virtual environment; llama.cpp compiled once for this machine (CUDA when nvcc
# and an NVIDIA GPU are present, Metal on Apple silicon, else CPU; HOSTBENCH_LLAMA_BACKEND
# or CMAKE_ARGS override) as shared libraries plus llama-server and llama-bench, with
# llama-cpp-python built on those libraries (HOSTBENCH_LLAMA_ONE_COMPILE=0: the former two
# compiles); the project; the default model. Native builds are cached under
# ~/.cache/hostbench/build, so only the first set-up compiles.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.hostbench-setup
BUILD := $(BIN)/python engines/llamacpp/build.py
DEFAULT_MODEL := smollm2-135m-instruct
PYTEST_ARGS ?=

.PHONY: run test setup lint screenshots clean llama-server check-vllm

run: setup
	$(BIN)/hostbench

# One test worker: each engine the tests start takes every core (llama.cpp's threads default
# to the physical cores), and two workers on a 2-core machine ran two engines at once, whose
# spinning threads starved each other into minute-long stalls (one test failed so in each of
# several CI runs). PYTEST_ARGS="-n 2" runs two where there are cores for them.
test: setup
	$(BIN)/python -m pytest -n 1 $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports && $(BIN)/mypy

setup: $(STAMP)

$(STAMP): pyproject.toml engines/llamacpp/build.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "cmake>=3.21"
	@echo "llama.cpp backend: $$($(BUILD) backend)"
	@echo "llama.cpp and llama-cpp-python: $$($(BUILD) cached)"
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps "$$($(BUILD) wheel)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/hostbench engines build
	$(BIN)/hostbench pull $(DEFAULT_MODEL)
	touch $(STAMP)

# hostbench's vLLM command lines and metric names against vLLM's own parser and source (tests
# marked `vllm`). vLLM and its CUDA libraries (several GB; no GPU needed to parse) and Ray go
# into a venv of their own, in the version range of pyproject's `vllm` extra; point
# VLLM_PYTHON at an existing one to skip the install.
VLLM_VENV ?= .venv-vllm
VLLM_PYTHON ?= $(VLLM_VENV)/bin/python
VLLM_REQUIREMENT = $$($(BIN)/python -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['vllm'][0])")

check-vllm: setup
	test -x $(VLLM_PYTHON) || { $(PYTHON) -m venv $(VLLM_VENV) && $(VLLM_VENV)/bin/python -m pip install "$(VLLM_REQUIREMENT)" "ray>=2.60"; }
	HOSTBENCH_VLLM_PYTHON=$(VLLM_PYTHON) $(BIN)/python -m pytest -p no:xdist -m vllm tests/unit/engines

# llama-server alone (already part of the set-up): from the one-compile build, or built.
llama-server: setup
	$(BIN)/hostbench engines build

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache .mypy_cache .ruff_cache

screenshots: setup
	$(BIN)/python screenshots/make.py
