# Troika: one-command set-up, book build and tests. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.troika-installed
RESULTS := $(CURDIR)/book/_results
JOBS   ?= 2
MATHJAX := 3.2.2
MATHJAX_STATIC := $(VENV)/share/troika-static
CHROMIUM ?= chromium
JB_ARGS := build . --config book/_config.yml --toc book/_toc.yml --path-output book -W -n --keep-going --all

# TensorFlow reads these at import time; progress bars stay quiet in builds and tests.
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0
export TROIKA_QUIET := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install book test test-fast mutation test-colab test-oldest lab clean seeds strip-notebooks assignments grade check-html browser

help:
	@echo "make book       set up .venv, execute every chapter, build the HTML book (book/_build/html)"
	@echo "make test       set up .venv, run unit tests + every notebook (nbval) + a strict book build check"
	@echo "make check-html open every page of book/_build/html in headless Chromium (after make book)"
	@echo "make test-fast  unit tests and the notebooks changed since main"
	@echo "make mutation   mutation testing (mutmut) of autograd, optim, conv, attention, quantize; not in CI"
	@echo "                MUTANTS='troikadl.optim.*' limits it to one module"
	@echo "make test-colab  every notebook in a Colab-like environment (newest versions; before a release)"
	@echo "make test-oldest unit tests and notebooks at the lower bounds of companion/pyproject.toml"
	@echo "make lab        JupyterLab on chapters/"
	@echo "make seeds NB=chapters/01_neuron.ipynb   run one chapter with seeds 0, 1 and 2"
	@echo "make strip-notebooks   remove outputs and execution counts from chapters/*.ipynb"
	@echo "make assignments       one assignment notebook per chapter: assignments/{source,release}"
	@echo "make grade SUBMISSIONS=submitted   grade submitted/<student>/NN_slug.ipynb into grades.csv"

install: $(STAMP)

$(STAMP): requirements.txt companion/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the pinned requirements into $(VENV) (first time: a few minutes, about 3 GB)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt 2> >(grep -v "is ignored: it is neither" >&2)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e companion
	@echo "Installing MathJax $(MATHJAX) from npm, served with the book so that math renders offline"
	npm install --silent --no-audit --no-fund --prefix $(VENV)/npm mathjax@$(MATHJAX)
	rm -rf $(MATHJAX_STATIC) && mkdir -p $(MATHJAX_STATIC) && cp -r $(VENV)/npm/node_modules/mathjax/es5 $(MATHJAX_STATIC)/mathjax
	@touch $@

book: $(STAMP)
	rm -rf $(RESULTS)
	TROIKA_RESULTS_DIR=$(RESULTS) $(BIN)/jupyter-book $(JB_ARGS)
	@echo "Book: book/_build/html/index.html"

# Headless Chromium and CJK fonts for the browser check (Debian packages; root installs them if missing).
browser:
	@command -v $(CHROMIUM) >/dev/null && fc-list | grep -qi "noto.*cjk" || { \
	  test "$$(id -u)" = 0 || { echo "install chromium and fonts-noto-cjk (sudo apt-get install chromium fonts-noto-cjk)"; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null; }

check-html: $(STAMP) browser
	$(BIN)/python tests/browser_check.py book/_build/html --executed

# Line and branch coverage of the package by the unit tests (settings: companion/pyproject.toml; notebooks run in
# their own kernels and are not counted). `make test` fails if the total falls under COV_FLOOR.
COV := --cov=troikadl --cov-config=companion/pyproject.toml --cov-report=term
COV_FLOOR := 89

test: $(STAMP) browser
	rm -rf $(RESULTS)
	TROIKA_RESULTS_DIR=$(RESULTS) $(BIN)/python -m pytest -n $(JOBS) --dist loadfile --nbval-lax \
		$(COV) --cov-fail-under=$(COV_FLOOR) -p no:cacheprovider tests chapters book/errata.ipynb

test-fast: $(STAMP)
	@changed=$$( { git diff --name-only main -- 'chapters/*.ipynb' 2>/dev/null; \
	              git ls-files --others --exclude-standard -- 'chapters/*.ipynb'; } | sort -u ); \
	echo "notebooks changed since main: $${changed:-none}"; \
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile --nbval-lax $(COV) -p no:cacheprovider \
		-m "not slow" tests $$changed

# Not part of `make test` (tens of minutes per module): mutmut changes one operator or constant at a time in the
# core numeric modules ([tool.mutmut] in companion/pyproject.toml) and runs the fast tests that reach it; a
# mutant no test notices "survived". Results stay in companion/mutants/ (only changed functions are retested).
mutation: $(STAMP)
	rm -rf companion/mutants/tests && mkdir -p companion/mutants && cp -r tests pytest.ini companion/mutants/
	cd companion && OMP_NUM_THREADS=1 $(CURDIR)/$(BIN)/mutmut run --max-children $(JOBS) $(MUTANTS)
	cd companion && $(CURDIR)/$(BIN)/mutmut results | { grep -v ": not checked$$" || true; }
	cd companion && $(CURDIR)/$(BIN)/mutmut export-cicd-stats && cat mutants/mutmut-cicd-stats.json

# Not part of `make test`: they download the newest (or the oldest allowed) frameworks into .envs/ and
# record the result in book/status.md. See tests/environments.py.
test-colab: $(STAMP)
	$(BIN)/python tests/environments.py colab --record

test-oldest: $(STAMP)
	$(BIN)/python tests/environments.py oldest --record

lab: $(STAMP)
	$(BIN)/jupyter lab --allow-root --notebook-dir=chapters

seeds: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make seeds NB=chapters/NN_slug.ipynb"; exit 2; }
	for s in 0 1 2; do echo "== seed $$s"; \
	  TROIKA_SEED=$$s $(BIN)/python -m pytest --nbval-lax -p no:cacheprovider -q $(NB) || exit 1; done

strip-notebooks: $(STAMP)
	$(BIN)/python tests/notebooks.py --fix

assignments: $(STAMP)
	$(BIN)/python -m troikadl.grading.assign chapters assignments $(if $(FORCE),--force)

grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder-of-student-folders"; exit 2; }
	$(BIN)/python -m troikadl.grading.autograde assignments/source $(SUBMISSIONS) grades.csv

clean:
	rm -rf book/_build $(RESULTS) .pytest_cache
