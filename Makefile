# The README's two commands: `make reproduce` and `make test`. Both set up .venv when it is
# missing or when pyproject.toml or constraints.txt changed, and are quick when it is already set up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS := dev,crf,notebooks,fast-eval,demo,search
export OMP_NUM_THREADS ?= 2

.PHONY: setup test test-slow test-all reproduce clean-results

# the exact tested set: constraints.txt pins every package; pyproject.toml only has ranges
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e '.[$(EXTRAS)]'
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	@touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)  ## fast tests (about 10 minutes on 2 cores)
	$(PY) -m pytest -q

test-slow: $(STAMP)  ## end-to-end tests (notebooks, paper-layout stand-ins); CI runs them
	$(PY) -m pytest -q -m slow

test-all: $(STAMP)
	$(PY) -m pytest -q -m "slow or not slow"

# tests draw off-screen; the notebooks' kernels keep the inline backend (figures in the copies)
test test-slow test-all: export MPLBACKEND := Agg

reproduce: $(STAMP)  ## regenerate results/ with the smoke profile on the CPU
	$(PY) -m moana reproduce --profile smoke

# GPU readiness check (benchmarks/gpu_check.py): writes gpu_check.json, exits non-zero naming the
# failed stages. On a CPU: make gpu-check GPU_CHECK_ARGS="--device cpu --tiny" (what CI runs).
.PHONY: gpu-check
GPU_CHECK_ARGS ?=
gpu-check: $(STAMP)  ## GPU readiness check, at most 8 minutes on a GPU
	$(PY) benchmarks/gpu_check.py $(GPU_CHECK_ARGS)
