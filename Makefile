# The two commands of the README: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
FUZZ_VENV  := .venv-fuzz
FUZZ_STAMP := $(FUZZ_VENV)/.installed

.PHONY: install lock system-deps run test lint bench-schemas bench-intake kafka-start kafka-stop clean

# The exact versions the tests passed with (requirements.lock), then the project itself without resolving again.
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

# The compiled hot path of intake (native/, Rust through maturin): optional. When it does not build (no cargo,
# no network), intake runs in pure Python and logs a warning; `rm $(NATIVE)` and `make install` to retry.
NATIVE := $(VENV)/.native
$(NATIVE): $(STAMP) native/Cargo.toml native/Cargo.lock native/pyproject.toml $(wildcard native/src/*.rs)
	@if command -v cargo >/dev/null && $(BIN)/python -m pip install --quiet --no-deps ./native; then :; else \
	  $(BIN)/python -m pip uninstall --quiet --yes eventplatform-native >/dev/null 2>&1; \
	  echo "warning: the compiled intake path (native/) did not build; intake runs in pure Python" >&2; fi
	@touch $@

# schemathesis in a venv of its own (requirements-fuzz.in says why), run by tests/gate/test_fuzz.py
$(FUZZ_STAMP): requirements-fuzz.lock
	@test -x $(FUZZ_VENV)/bin/python || $(PYTHON) -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(FUZZ_VENV)/bin/python -m pip install --quiet -r requirements-fuzz.lock
	@touch $(FUZZ_STAMP)

install: $(STAMP) $(FUZZ_STAMP) $(NATIVE)

# Re-resolve every dependency to the newest version pyproject.toml allows: `make lock test`, then commit the lock.
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --all-extras --python-version 3.11 --quiet -o $(LOCK)
	$(BIN)/uv pip compile requirements-fuzz.in --python-version 3.11 --quiet -o requirements-fuzz.lock

# What the tests need from the system (Debian packages: chromium, mariadb-server, prometheus' promtool...):
# each scripts/deps/*.sh installs its part only where missing.
system-deps:
	@for s in scripts/deps/*.sh; do [ -e "$$s" ] || continue; bash "$$s" || exit 1; done

run: $(STAMP) $(NATIVE)
	$(BIN)/eventplatform serve

# ruff (style and errors), import-linter (the contracts of pyproject's [tool.importlinter]: which part may
# import which) and vulture (dead code; false positives are named in vulture_whitelist.py)
lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/vulture

test: lint system-deps
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
	rm -rf $(VENV) $(FUZZ_VENV) .eventplatform build dist src/*.egg-info native/target
