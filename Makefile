# Both targets work on a fresh machine: they create .venv and install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Seed the embedded sandbox with a realistic, partly broken account, scan it and show the fix plan.
# `make demo FIX=1` also applies the plan and re-scans (demo-out/findings-after.json).
# Exit code 1 (findings) is the expected outcome of the demo; anything else fails.
demo: $(STAMP)
	$(VENV)/bin/omics-ecr-audit demo --out demo-out $(if $(FIX),--fix); rc=$$?; [ $$rc -le 1 ]

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(VENV)/bin/pytest -q

bench: $(STAMP)
	$(PY) benchmarks/scan_benchmark.py

clean:
	rm -rf $(VENV) demo-out out .pytest_cache .ruff_cache
