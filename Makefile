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

# Smoke mode for the notebooks under test; progress bars stay quiet in logs.
TEST_ENV := COURSE_SMOKE=1 TQDM_DISABLE=1

# Lessons as the shell sees them when a recipe runs (a new lesson's notebook may
# only appear during `make solutions`).
LESSON_GLOB := notebooks/[0-9][0-9]_*.ipynb

.PHONY: help install run test lint lab solutions check-solutions constraints clean

help:
	@echo "make run              execute every lesson at full size into $(BUILD)/run/ and print a summary table"
	@echo "make test             check the student versions, run the unit tests and every lesson in smoke mode"
	@echo "make lint             ruff: style, imports and lines of at most 100 columns"
	@echo "make lab              start JupyterLab on the lessons"
	@echo "make solutions        after editing a lesson's .py: sync, re-execute changed lessons in place,"
	@echo "                      regenerate the student versions (FORCE=1 re-executes every lesson)"
	@echo "make check-solutions  fail if a student version is stale, leaks a solution or lacks a stub"

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

clean:
	rm -rf $(BUILD)
