# Quick start: `make demo` (the main job) and `make test` (the default test suite).
# Both bootstrap a virtual environment in .venv from PyPI on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two install stamps, so that `make demo` on a fresh clone installs only what the demo
# imports (the package and its dependencies: no torch, no test tools), and `make test`
# adds the test tools and the `torch` extra (the neural-network tests need it; pinned in
# setup.cfg).  STAMP keeps its old name: it marks the complete install.
DEMO_STAMP := $(VENV)/.demo-stamp
STAMP      := $(VENV)/.installed-stamp
OUT    ?= out/demo

.PHONY: demo test test-slow bench docs clean fmnist-data

$(DEMO_STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(DEMO_STAMP)

$(STAMP): $(DEMO_STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,torch]"
	touch $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/convexpoison audit --out $(OUT)

# Fashion-MNIST (dataset `fmnist`, docs/datasets.md) comes from the Debian package
# dataset-fashion-mnist (30 MB, not shipped in the repository): installed here when it is
# missing and apt-get can run as root; otherwise a message, and the tests that need it skip.
FMNIST_DIR := /usr/share/datasets/fashion-mnist
fmnist-data:
	@if [ -f $(FMNIST_DIR)/train-images-idx3-ubyte.gz ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "installing dataset-fashion-mnist (dataset fmnist)"; \
	  timeout 300 apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	  { timeout 300 apt-get update -q >/dev/null 2>&1 && \
	    timeout 300 apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } || \
	  echo "note: could not install dataset-fashion-mnist; the fmnist tests will skip"; \
	else \
	  echo "note: dataset fmnist needs the Debian package dataset-fashion-mnist" \
	       "(apt-get install dataset-fashion-mnist, as root); the fmnist tests will skip"; \
	fi

# The default suite in two worker processes (pytest-xdist; a file's tests stay in one
# worker, so its module fixtures are fitted once): 5 min instead of 9 on two cores.
test: $(STAMP) fmnist-data
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test-slow: $(STAMP) fmnist-data
	$(BIN)/python -m pytest -q -m slow

clean:
	rm -rf $(VENV) out build *.egg-info .pytest_cache

docs: $(DEMO_STAMP)
	$(BIN)/python -m pip install --quiet mkdocs
	$(BIN)/python docs/gen_cli.py
	$(BIN)/mkdocs build --strict -d site

# Benchmarks (bench/README.md): each script prints its table and writes bench/results/NAME.json;
# files starting with "_" are helpers, not benchmarks.
bench: $(DEMO_STAMP)
	$(BIN)/python -m pip install --quiet "dask[distributed]"
	mkdir -p bench/results
	for f in bench/*.py; do \
	  case $$(basename $$f) in _*) continue;; esac; \
	  echo "== $$f"; \
	  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python $$f || exit 1; \
	done
