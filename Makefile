# Two set-up commands: `make run` (local stack) and `make test` (every check).
SHELL := /bin/bash
# The Lambda runtime's Python, 3.13: python3.13 on the PATH, else pyenv's (tools/find-python prints its path, or
# one line saying what to install). PYTHON=/path/to/python3.13 overrides.
PYTHON ?= $$(tools/find-python 3.13)
VENV := .venv
PY := $(VENV)/bin/python
SAM := $(VENV)/bin/sam
# asl-validator (npm, pinned in tools/asl/package-lock.json) checks statemachine/*.asl.json: tests/build/test_delivery_asl.py
ASL_TOOLS := tools/asl
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1

PORT ?= 3000
# The token's user (its `sub`). Not USER: every shell sets USER, so `USER ?= alice` would sign for root.
# `make token USER=alice` on the command line still works (the contract's spelling).
SUB ?= $(if $(filter command line,$(origin USER)),$(USER),alice)
QUEUE ?=

.PHONY: help check venv asl-validator replay redrive-events run run-docker invoke test-docker token test lint typecheck template-check build lock unit integration e2e openapi events bench soak chaos redrive reconcile clean

help:
	@echo "Start and try it"
	@echo "  make run           start the whole system locally (PORT, JWT_SECRET, DELIVERY_DELAY_SECONDS)"
	@echo "  make run-docker    the same, every function in the Lambda runtime in Docker (SAM CLI)"
	@echo "  make token         print a bearer token for alice; make token SUB=bob for another user"
	@echo "  make invoke        sam local invoke: make invoke FN=CreateOrderFunction EVENT=events/create-order.json"
	@echo "Test"
	@echo "  make test          lint, type-check, template checks, sam build and every suite (the CI)"
	@echo "  make lint          ruff check and ruff format --check"
	@echo "  make typecheck     mypy"
	@echo "  make template-check  cfn-lint with the Serverless Rules, sam validate --lint"
	@echo "  make check         the fast tier, under a minute: ruff and tests/unit (no moto, npm or sam build)"
	@echo "  make unit          tests/unit alone (tests/moto, tests/build, ...: make test runs every suite)"
	@echo "  make integration   tests/integration: the whole system in one process"
	@echo "  make e2e           tests/e2e: plain HTTP against a local stack (or API_URL)"
	@echo "  make test-docker   tests/docker: every function in the Lambda runtime (installs Docker if needed)"
	@echo "Measure and stress"
	@echo "  make bench         measure cold start, latency, throughput, event chain and cost"
	@echo "  make soak          drive N orders (default 2000) through the local stack"
	@echo "  make chaos         the soak under faults, then every invariant (CHAOS_ARGS)"
	@echo "Operate (against the running make run; on AWS: python -m tools.ops --stack NAME)"
	@echo "  make redrive       move DLQ messages back: make redrive QUEUE=OrdersInboxDLQ"
	@echo "  make redrive-events  move EventDeliveryDLQ (SNS could not deliver) to the inboxes"
	@echo "  make reconcile     the card processor's ledger against the payments table (HOURS=24); exit 1 on a mismatch"
	@echo "  make replay        republish the events the stream publishers gave up on (OutboxFailureQueue)"
	@echo "Build and generate"
	@echo "  make build         sam build (every function and the layer, bytecode shipped)"
	@echo "  make openapi       regenerate openapi.json from the code"
	@echo "  make events        regenerate asyncapi.json (the event catalogue) from the event models"
	@echo "  make lock          regenerate the hash-locked requirements from the requirements.in files"
	@echo "  make venv          install .venv from the hash-locked requirements"
	@echo "  make asl-validator install the pinned npm validator of the state machine (tools/asl)"
	@echo "  make clean         remove build output and caches (.aws-sam, .devstack, tool caches)"

# Install output goes to stderr, so `make token` prints exactly one line on stdout even on a fresh clone.
# Only from the hash-locked requirements (`make lock`): a hash-pinned uv (requirements-uv.txt, the version
# requirements-dev.txt pins too), then everything with it, one line per phase (tools/bootstrap-venv).
$(VENV)/.installed: requirements-dev.txt
	@py=$(PYTHON) && tools/bootstrap-venv $(VENV) "$$py"
	@touch $@

$(ASL_TOOLS)/node_modules/.installed: $(ASL_TOOLS)/package.json $(ASL_TOOLS)/package-lock.json
	@echo "installing asl-validator (tools/asl/package-lock.json)..." >&2
	@npm ci --prefix $(ASL_TOOLS) --no-audit --no-fund --silent >&2
	@touch $@

venv: $(VENV)/.installed

asl-validator: $(ASL_TOOLS)/node_modules/.installed

run: venv
	@$(PY) -m devstack run --port $(PORT)

# Every function in the Lambda runtime in Docker through SAM CLI (devstack/docker/samlocal.py). Installs and
# starts Docker when absent and root; builds the Lambda base image offline when it cannot be pulled.
run-docker: venv
	@$(PY) -m devstack run --docker --port $(PORT)

FN ?=
EVENT ?=
invoke: venv
	@$(PY) -m devstack invoke --function $(FN) --event $(EVENT)

token: venv
	@$(PY) -m devstack token --user $(SUB)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

template-check: venv asl-validator
	# cfn-lint with the Serverless Rules on both templates (they go first: --append-rules takes several values)
	$(VENV)/bin/cfn-lint template.yaml observability.yaml --append-rules cfn_lint_serverless.rules
	$(SAM) validate --lint

# Every function and the layer build through tools/lambda-build/Makefile (BuildMethod: makefile): wheels from
# the hash-locked requirements.txt beside each CodeUri, bytecode shipped. LAMBDA_ARCHITECTURE=x86_64 builds
# for an x86_64 runtime (default arm64, the template's).
build: venv
	py=$(PYTHON) && PATH="$$(dirname "$$py"):$$PATH" $(SAM) build --cached --parallel

# Regenerate the locks (pinned versions with every file's hash) from the requirements.in files: one per
# environment (.venv, the layer, the functions with dependencies of their own).
LOCK := $(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.13 --custom-compile-command "make lock"
lock: venv
	$(LOCK) --universal -o requirements-uv.txt requirements-uv.in
	$(LOCK) --universal -o requirements-dev.txt requirements-dev.in
	$(LOCK) --python-platform aarch64-manylinux_2_17 -o layers/common/requirements.txt layers/common/requirements.in
	$(LOCK) --python-platform aarch64-manylinux_2_17 -o functions/authorizer/requirements.txt functions/authorizer/requirements.in
	# only Swagger UI's files are served: its Jinja2 dependency is left out
	$(LOCK) --no-deps -o functions/docs/requirements.txt functions/docs/requirements.in

# Each suite runs in its own process: moto's state is global to a process, and the local stack, the moto
# server of tests/moto and the resilience stack must not share it. tests/unit: pure Python (make check);
# tests/moto: the handlers and tools against moto; tests/build: sam build's output and asl-validator (npm);
# tests/docker: the whole system in the Lambda runtime in Docker (make test-docker; installs Docker if needed).
PYTEST_SUITES := unit moto build devstack integration e2e resilience chaos docker

# Suites whose tests share nothing run in two processes (pytest-xdist): each worker has a moto server of its own.
PYTEST_ARGS_moto := -n 2

# Each suite prints its time, so the CI's log says where the minutes go.
test: lint typecheck template-check build
	@set -e; $(foreach suite,$(PYTEST_SUITES),if [ -d tests/$(suite) ]; then \
	  echo "== pytest tests/$(suite) $(PYTEST_ARGS_$(suite))"; start=$$SECONDS; \
	  $(PY) -m pytest tests/$(suite) $(PYTEST_ARGS_$(suite)); echo "== tests/$(suite): $$((SECONDS - start)) s"; fi;)

# The fast tier: lint and the pure tests (tests/unit: no moto, no npm, no sam build), well under a minute.
check: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest tests/unit -q

unit: venv
	$(PY) -m pytest tests/unit

integration: venv
	$(PY) -m pytest tests/integration

e2e: venv
	$(PY) -m pytest tests/e2e

test-docker: venv
	$(PY) -m pytest tests/docker

openapi: venv
	$(PY) -m tools.openapi_doc --write

events: venv
	$(PY) -m tools.event_catalogue --write

bench: venv
	$(PY) -m bench

soak: venv
	$(PY) -m devstack soak

# CHAOS_ARGS: e.g. --orders 300 --seed 7 --aws-rate 0.1 (python -m devstack chaos --help)
chaos: venv
	$(PY) -m devstack chaos $(CHAOS_ARGS)

redrive: venv
	$(PY) -m devstack redrive --queue $(QUEUE)

# Against the running local stack; on AWS: python -m tools.ops --stack <name> ... (docs/operations.md).
redrive-events: venv
	$(PY) -m tools.ops redrive-events

replay: venv
	$(PY) -m tools.ops replay

# The window: the last HOURS hours (the ledger keeps 7 days).
HOURS ?= 24
reconcile: venv
	@$(PY) -m tools.ops reconcile --hours $(HOURS)

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .devstack
