# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export KERAS_BACKEND ?= jax
export PYTHONHASHSEED := 0
# pytest worker processes for `make test` (0: one process, no xdist)
TEST_WORKERS ?= 2

.PHONY: demo test venv clean bench

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) requirements.txt setup.py
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m beam_pipelines.demo --output_dir demo_out

test: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --durations=30 tests

bench: $(STAMP)
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) demo_out
