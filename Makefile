# The two commands of the README: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint bench-schemas bench-intake kafka-start kafka-stop clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/eventplatform serve

# ruff (style and errors), import-linter (the contracts of pyproject's [tool.importlinter]: which part may
# import which) and vulture (dead code; false positives are named in vulture_whitelist.py)
lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/vulture

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup

bench-schemas: install
	$(BIN)/python bench/schemas.py

bench-intake: install
	$(BIN)/python bench/intake.py

kafka-start:
	scripts/kafka.sh start

kafka-stop:
	scripts/kafka.sh stop

clean:
	rm -rf $(VENV) .eventplatform build dist src/*.egg-info
