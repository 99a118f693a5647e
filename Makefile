# Two entry points on a fresh machine: `make demo` (run the product) and `make test` (run every test).
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo run test test-fast lint bench clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The product alone (what `make demo` and `make run` need).
$(RUN_STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -c constraints.txt -e .
	touch $@

# Everything the tests exercise: test tools and third-party senders.
$(TEST_STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $@ $(RUN_STAMP)

demo: $(RUN_STAMP)
	$(VENV)/bin/watchkeeper demo

run: $(RUN_STAMP)
	$(VENV)/bin/watchkeeper run

test: $(TEST_STAMP)
	$(VENV)/bin/pytest -q -p no:cacheprovider

test-fast: $(TEST_STAMP)
	$(VENV)/bin/pytest -q -p no:cacheprovider -m "not slow and not browser"

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .

bench: $(TEST_STAMP)
	for b in benchmarks/bench_*.py; do $(PY) -m benchmarks.$$(basename $$b .py) || exit 1; done

clean:
	rm -rf $(VENV) .watchkeeper .watchkeeper-demo
