# The README's quick start: `make demo` and `make test` on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: install test test-slow lint typecheck demo bench bench-sparse bench-quick clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Re-install when the project's dependencies change.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks examples
	$(PY) -m ruff format --check src tests benchmarks examples

typecheck: $(STAMP)
	$(PY) -m mypy

test: $(STAMP)
	$(PY) -m ruff check src tests benchmarks examples
	$(PY) -m pytest -n 2 -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

# The command-line demo on the bundled penguins data: model, report.html and
# predictions land in demo-output/ (examples/demo.py is the Python-API tour).
demo: $(STAMP)
	$(PY) -m softmax demo --output-dir demo-output --force

# Reproduces docs/benchmarks.md; run on an otherwise idle machine, one at a time.
bench: $(STAMP)
	$(PY) benchmarks/bench_functions.py --write
	$(PY) benchmarks/bench_fit.py --write
	$(PY) benchmarks/bench_eval.py --write
	$(PY) benchmarks/bench_dask.py --write
	$(PY) benchmarks/bench_multilabel.py --write

# The sparse models' section (L1 on W4, the elastic-net path on W2): about 15
# minutes, most of it scikit-learn's saga; kept out of `make bench`.
bench-sparse: $(STAMP)
	$(PY) benchmarks/bench_sparse.py --write

bench-quick: $(STAMP)
	$(PY) benchmarks/bench_functions.py --quick
	$(PY) benchmarks/bench_fit.py --quick
	$(PY) benchmarks/bench_eval.py --quick
	$(PY) benchmarks/bench_dask.py --quick --chunks 1,3
	$(PY) benchmarks/bench_multilabel.py --quick --threads 1
	$(PY) benchmarks/bench_sparse.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache build dist
