# The two README commands: `make demo` (main job on the embedded synthetic data) and `make test`.
# Both create/update the local virtual environment first (scripts/install.sh).
VENV ?= .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/ivosw-bench
STAMP := $(VENV)/.ivosw-installed
DEMO_OUT ?= runs/demo

.PHONY: install demo test test-all bench clean

$(STAMP): setup.cfg pyproject.toml scripts/install.sh
	bash scripts/install.sh $(VENV)
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(CLI) compare --strategies random,linspace,worst-oracle --seeds 0,1,2 --rounds 8 \
	  --out $(DEMO_OUT) --overwrite --report-dir $(DEMO_OUT)/report

test: $(STAMP)
	$(PY) -m pytest

test-all: $(STAMP)
	$(PY) -m pytest -m ""

bench: $(STAMP)
	$(PY) benchmarks/round_time.py

clean:
	rm -rf $(VENV) runs .pytest_cache
