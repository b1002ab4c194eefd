# Set-up and the two everyday jobs. `make demo` and `make test` create the
# virtual environment on first use (Python 3.10+ as python3).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast bench bench-gpu clean

# The package install is not --quiet: about 2.5 GB to download (TensorFlow), so pip shows what it fetches
# and its progress bars instead of minutes of silence.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/ssvae demo

# The suite in TEST_WORKERS processes (pytest-xdist), each test file in one of them so that its module
# fixtures are built once: 1,152 tests in 9:54 on 2 cores, against over 15 min in one process.
TEST_WORKERS ?= 2

test: $(VENV)/.installed
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# Everything but the tests marked slow (subprocesses, end-to-end runs): the inner loop, about 2 minutes.
test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow" -q

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_spatial_stats.py
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_serving.py
	$(BIN)/python benchmarks/bench_cli.py
	$(BIN)/python benchmarks/bench_step.py

# On a machine with a GPU: SS-VAE vs pixel VAE at 64 and 224 px, XLA and mixed precision (refuses without one).
bench-gpu: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_gpu.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache
