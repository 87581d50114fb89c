# `make figures` runs the main sweep and draws its figures; `make test` runs the tests.
# Both create .venv on first use, so they work on a machine that has only python3.
VENV := .venv
BIN := $(VENV)/bin
SWEEP := data/sweep-depth8.zarr

.PHONY: figures test test-slow mutate bench bench-gpu clean-data

$(BIN)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

$(SWEEP): | $(BIN)/.installed
	$(BIN)/ntkpaths sweep --depth 8 --out $@

figures: $(SWEEP) $(BIN)/.installed
	$(BIN)/ntkpaths plot $(SWEEP)
	@echo "'source $(VENV)/bin/activate' puts ntkpaths on your PATH"

test: $(BIN)/.installed
	$(BIN)/python -m pytest

test-slow: $(BIN)/.installed
	$(BIN)/python -m pytest -m slow

# Injects known one-line bugs one at a time and reports which ones the tests catch (opt-in, minutes).
mutate: $(BIN)/.installed
	$(BIN)/python tools/mutate.py

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/bench_speed.py
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_precision.py

bench-gpu: $(BIN)/.installed
	$(BIN)/python benchmarks/bench_gpu.py

clean-data:
	rm -rf $(SWEEP) data/sweep-depth8-figures
