# Both targets work on a fresh machine: they create .venv and install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench dist clean

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt --build-constraint constraints.txt -e '.[dev]'
	touch $(STAMP)

# Seed the embedded sandbox with a realistic, partly broken account, scan it and show the fix plan.
# `make demo FIX=1` also applies the plan and re-scans (demo-out/findings-after.json).
# Exit code 1 (findings) is the expected outcome of the demo; anything else fails.
demo: $(STAMP)
	$(VENV)/bin/omics-ecr-audit demo --out demo-out $(if $(FIX),--fix); rc=$$?; [ $$rc -le 1 ]

# mypy (strict, see [tool.mypy]) checks the package as it installs: rules/ and remediations/ are auditor.rules and
# auditor.remediations, a mapping mypy cannot follow through the editable install, so it reads a link tree of the
# installed layout (build/typecheck, first on mypy_path). Errors are reported at build/typecheck/auditor/... paths:
# auditor/rules/X is rules/X, auditor/remediations/X is remediations/X.
TYPECHECK := build/typecheck

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)
	cp -rs "$(CURDIR)/auditor" $(TYPECHECK)/auditor
	ln -s "$(CURDIR)/rules" $(TYPECHECK)/auditor/rules
	ln -s "$(CURDIR)/remediations" $(TYPECHECK)/auditor/remediations
	$(VENV)/bin/mypy -p auditor

# The whole suite on TEST_WORKERS pytest-xdist processes, each module on one worker (`--dist loadfile`, set in
# pyproject.toml's addopts, so module-scoped fixtures are built once). More workers than the 2 cores pay off: much
# of the suite waits on subprocesses, servers, rate limiters and sleeps (measured on 2 cores: 6 workers 4 min 11 s,
# 4 workers 4 min 35 s, one process 15 min 40 s). `make test TEST_WORKERS=0`: one process.
TEST_WORKERS ?= 6

test: lint
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS)

# The sdist and the wheel, as a release would publish them (tests/test_packaging.py builds and installs both):
# the build backend is pinned by constraints.txt. The wheel is built from the sdist, so the sdist is complete.
dist: $(STAMP)
	rm -rf dist
	$(PY) -m build --dependency-constraints-txt constraints.txt --outdir dist .

bench: $(STAMP)
	$(PY) benchmarks/scan_benchmark.py

clean:
	rm -rf $(VENV) demo-out out dist .pytest_cache .ruff_cache
