# One entry point for learners, instructors and CI. Every target creates .venv
# (pinned by constraints.txt) when it is missing or out of date. The instructor
# tools run from the checkout (python -m instructor.*); only course_utils is installed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BUILD  := build
# The most seconds one notebook cell may run under `make run` and `make solutions`.
CELL_TIMEOUT ?= 900

# Smoke mode for the notebooks under test; a worked solution that fails its exercise check
# is an error; progress bars stay quiet in logs.
TEST_ENV := COURSE_SMOKE=1 COURSE_STRICT_CHECKS=1 TQDM_DISABLE=1

# Lessons as the shell sees them when a recipe runs (a new lesson's notebook may
# only appear during `make solutions`).
LESSON_GLOB := notebooks/[0-9][0-9]_*.ipynb

# The course website: its own virtual environment, pinned by site/requirements.txt and
# re-created when that file changes (the lessons' environment is not touched). The
# source folder is a fresh copy of site/pages/*, README.md, notebooks/ and student/
# (not links: Sphinx resolves a linked page's relative links from where the link points).
SITE_VENV  := $(BUILD)/site-venv
SITE_BIN   := $(SITE_VENV)/bin
SITE_STAMP := $(SITE_VENV)/.installed
# Where a build puts its sources, pages and Sphinx's cache (the site test builds elsewhere).
SITE_SRC   ?= $(BUILD)/site-src
SITE_OUT   ?= $(BUILD)/site
SITE_CACHE ?= $(BUILD)/site-doctrees
# Warnings (a broken link or cross-reference, a missing image or download) fail the build.
# Every build starts afresh (-E, and an empty output folder): it takes seconds, and no
# page of a removed lesson is left behind.
SITE_FLAGS ?= -E -n -W --keep-going -q

.PHONY: help install run test lint lab solutions check-solutions constraints site clean compat device-check

help:
	@echo "make run              execute every lesson at full size into $(BUILD)/run/ and print a summary table"
	@echo "make test             check the student versions, run the unit tests and every lesson in smoke mode"
	@echo "make lint             ruff: style, imports and lines of at most 100 columns"
	@echo "make lab              start JupyterLab on the lessons"
	@echo "make solutions        after editing a lesson's .py: sync, re-execute changed lessons in place,"
	@echo "                      regenerate the student versions (FORCE=1 re-executes every lesson)"
	@echo "make check-solutions  fail if a student version is stale, leaks a solution or lacks a stub"
	@echo "make site             build the course website into $(SITE_OUT)/ from the committed notebooks"
	@echo "make device-check     every lesson at full size on this machine's GPU (or MPS, or CPU): time,"
	@echo "                      peak host and device memory, headline figures in $(BUILD)/device-check/"
	@echo "                      (SMOKE=1: the quick form CI checks)"
	@echo "make compat TORCH=2.9.1 TORCHVISION=0.24.1"
	@echo "                      unit tests and every lesson (smoke mode) on another PyTorch, in a"
	@echo "                      throwaway environment; one line per run in $(BUILD)/compat/results.md"
	@echo "                      (PINS=numpy==1.26.4: other versions of pinned packages)"

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[lab,test]"
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m instructor.runner --timeout $(CELL_TIMEOUT) --out $(BUILD)/run $(LESSON_GLOB)

test: check-solutions
	$(TEST_ENV) $(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

solutions: $(STAMP)
	$(BIN)/jupytext --sync notebooks/[0-9][0-9]_*.py
	$(BIN)/python -m instructor.runner --in-place --timeout $(CELL_TIMEOUT) \
		$(if $(FORCE),,--changed-only) $(LESSON_GLOB)
	$(BIN)/python -m instructor.student write $(LESSON_GLOB)

check-solutions: $(STAMP)
	$(BIN)/python -m instructor.student check $(LESSON_GLOB)

constraints: $(STAMP)
	{ head -n 2 constraints.txt; $(BIN)/python -m pip freeze --exclude-editable; } > constraints.new && mv constraints.new constraints.txt

$(SITE_STAMP): site/requirements.txt
	rm -rf $(SITE_VENV)
	$(PYTHON) -m venv $(SITE_VENV)
	$(SITE_BIN)/python -m pip install --quiet -r site/requirements.txt
	@touch $(SITE_STAMP)

site: $(SITE_STAMP)
	rm -rf $(SITE_SRC) $(SITE_OUT) && mkdir -p $(SITE_SRC)
	cp -pR site/pages/. README.md notebooks student $(SITE_SRC)/
	$(SITE_BIN)/sphinx-build -b html $(SITE_FLAGS) -c site -d $(SITE_CACHE) \
		$(SITE_SRC) $(SITE_OUT)
	@echo "site: $(SITE_OUT)/index.html"

# Every lesson on the accelerator, with its device memory (instructor/device_check.py).
device-check: $(STAMP)
	$(BIN)/python -m instructor.device_check --timeout $(CELL_TIMEOUT) $(if $(SMOKE),--smoke) \
		--out $(BUILD)/device-check $(LESSON_GLOB)

# Another PyTorch, in its own throwaway environment (instructor/compat.py says how).
compat: $(STAMP)
	@test -n "$(TORCH)" -a -n "$(TORCHVISION)" || \
		{ echo "usage: make compat TORCH=2.9.1 TORCHVISION=0.24.1"; exit 2; }
	$(BIN)/python -m instructor.compat --torch $(TORCH) --torchvision $(TORCHVISION) \
		$(foreach pin,$(PINS),--pin $(pin))

clean:
	rm -rf $(BUILD)
