# Quick start: `make demo` (the main job) and `make test` (the default test suite).
# Both bootstrap a virtual environment in .venv from PyPI on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
OUT    ?= out/demo

.PHONY: demo test test-slow bench docs clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,torch]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/convexpoison audit --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

clean:
	rm -rf $(VENV) out build *.egg-info .pytest_cache

docs: $(STAMP)
	$(BIN)/python -m pip install --quiet mkdocs
	$(BIN)/python docs/gen_cli.py
	$(BIN)/mkdocs build --strict -d site

# Benchmarks (bench/README.md): each script prints its table and writes bench/results/NAME.json;
# files starting with "_" are helpers, not benchmarks.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet "dask[distributed]"
	mkdir -p bench/results
	for f in bench/*.py; do \
	  case $$(basename $$f) in _*) continue;; esac; \
	  echo "== $$f"; \
	  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python $$f || exit 1; \
	done
