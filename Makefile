# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3.11
comma  := ,
empty  :=
space  := $(empty) $(empty)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# the local store server (SecantusDB) in a virtualenv of its own: it needs a newer pymongo than
# nameko's eventlet allows, and it is GPL-2.0, so it runs only as its own process (README)
STORE_VENV  := .venv-store
STORE_STAMP := $(STORE_VENV)/.installed
STORE_PIN   := SecantusDB==0.7.0b3
# the AsyncAPI project's parser and its JSON Schemas (npm, pinned in deploy/asyncapi-check/):
# tests/unit/test_asyncapi.py checks the served document with them
ASYNCAPI_CHECK := deploy/asyncapi-check/node_modules/.package-lock.json
# the events page's renderer, the AsyncAPI project's React component (npm, pinned in
# deploy/events-page/): the gateway serves its standalone bundle at /api/v1/event-docs
EVENTS_PAGE := deploy/events-page/node_modules/.package-lock.json

.PHONY: edge installed run test e2e-processes unit dlq chaos bench asyncapi demo seed install store broker browser prometheus events-page clean

run: $(STAMP) $(STORE_STAMP) events-page broker ## the five services and the gateway, a process each, on the local store under var/, with the demo data (SCALE="volunteers=2 charity=2", EDGE=8080: HAProxy in front of the gateways)
	$(if $(EDGE),./deploy/ensure-edge.sh)
	$(PY) -m wushe.ops.cli run $(if $(SCALE),--scale "$(subst $(space),$(comma),$(strip $(SCALE)))") $(if $(EDGE),--edge $(EDGE))

# the e2e tier a second time, on the process topology (README, "Tests"); the gateway's HTTP
# surface alone (input, keys, contract, fuzz, the docs pages, overload) and the broker-restart tests run once, on containers
SURFACE := test_hostile_input test_keys_and_scopes test_owner_checks test_api_contract test_inventory test_fuzz test_docs_page test_overload test_failures

# the virtualenvs and the npm packages, side by side (none needs another; a clean clone waits on
# the slowest, not on their sum)
installed:
	$(MAKE) -j4 $(STAMP) $(STORE_STAMP) $(ASYNCAPI_CHECK) $(EVENTS_PAGE)

# `make test` runs the suite in two lanes side by side (tests/lanes.sh): a pytest process is
# held to one core by the GIL and spends much of a test waiting on the broker, so one lane left
# the box half idle. Each lane has half of the e2e tier's pass on the process topology, which is
# CPU-bound (six processes started a test): one lane begins with its half, the other ends with
# it, so that the two halves do not run at once. Then, alone, the tests that stop the broker —
# its restarts and the chaos runs: everything else on the box would see the outage.
ALONE       := tests/e2e/test_failures.py tests/chaos
PROCESS_E2E := $(filter-out $(foreach m,$(SURFACE),tests/e2e/$(m).py),$(sort $(wildcard tests/e2e/test_*.py)))
OTHER_TIERS := $(filter-out tests/e2e/ tests/chaos/,$(sort $(wildcard tests/*/)))
FIRST_HALF  := $(wordlist 1,$(shell expr \( $(words $(PROCESS_E2E)) + 1 \) / 2),$(PROCESS_E2E))
ignoring     = $(foreach path,$(1),--ignore=$(path))
LANE_ONE    := WUSHE_TEST_TOPOLOGY=processes $(PY) -m pytest $(FIRST_HALF) $(PYTEST_ARGS) \
               && $(PY) -m pytest tests/e2e $(call ignoring,$(ALONE) tests/e2e/test_fuzz.py) $(PYTEST_ARGS)
LANE_TWO    := $(PY) -m pytest $(OTHER_TIERS) tests/e2e/test_fuzz.py $(PYTEST_ARGS) \
               && WUSHE_TEST_TOPOLOGY=processes $(PY) -m pytest $(filter-out $(FIRST_HALF),$(PROCESS_E2E)) $(PYTEST_ARGS)

test: installed browser prometheus edge ## the whole suite, against the real broker and the local store server
	./deploy/ensure-broker.sh --management
	./tests/lanes.sh "$(LANE_ONE)" "$(LANE_TWO)"
	$(PY) -m pytest $(ALONE) $(PYTEST_ARGS)

e2e-processes: $(STAMP) $(STORE_STAMP) $(EVENTS_PAGE) browser prometheus ## every e2e test on the process topology (a process per service, a store server)
	./deploy/ensure-broker.sh --management
	WUSHE_TEST_TOPOLOGY=processes $(PY) -m pytest tests/e2e $(PYTEST_ARGS)

unit: $(STAMP) $(ASYNCAPI_CHECK) ## the pure-domain tests only; no broker needed
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

chaos: $(STAMP) $(STORE_STAMP) ## the full chaos run (CHAOS_ARGS="--needs 2000 --broker-down 12 …")
	./deploy/ensure-broker.sh --management
	$(PY) -m tests.chaos $(CHAOS_ARGS)

bench: $(STAMP) $(STORE_STAMP) edge ## the linkage under paced load beside the framework's floor (BENCH_ARGS="--quick", "--scale gateway=2", "--profile community")
	./deploy/ensure-broker.sh --management
	$(PY) -m tests.bench $(BENCH_ARGS)

edge: ## HAProxy (Debian's package), the edge in front of the gateways (deploy/edge/)
	./deploy/ensure-edge.sh

dlq: $(STAMP) ## list dead-lettered messages (replay: .venv/bin/wushe dlq replay SERVICE [ID …])
	$(PY) -m wushe.ops.cli dlq list

demo: $(STAMP) ## a day of Taida street through the running platform (`make run` first; WUSHE_ADMIN_KEY=…)
	$(PY) -m wushe.ops.cli demo $(DEMO_ARGS)

seed: $(STAMP) ## load the demo data into the running platform (WUSHE_ADMIN_KEY=…)
	$(PY) -m wushe.ops.cli seed

asyncapi: $(STAMP) ## write the AsyncAPI 3 document of the events to deploy/asyncapi.json
	$(PY) -m wushe.contract.asyncapi > deploy/asyncapi.json

install: $(STAMP) $(STORE_STAMP) $(ASYNCAPI_CHECK) $(EVENTS_PAGE)

store: $(STORE_STAMP) ## install the local store server into .venv-store/

$(STORE_STAMP):
	test -x $(STORE_VENV)/bin/python || $(PYTHON) -m venv $(STORE_VENV) || python3 -m venv $(STORE_VENV)
	$(STORE_VENV)/bin/python -m pip install -q '$(STORE_PIN)'
	touch $(STORE_STAMP)

$(ASYNCAPI_CHECK): deploy/asyncapi-check/package.json deploy/asyncapi-check/package-lock.json
	command -v npm >/dev/null || { echo "wushe: the AsyncAPI check needs Node.js and npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	cd deploy/asyncapi-check && npm ci --no-audit --no-fund --loglevel=error

$(EVENTS_PAGE): deploy/events-page/package.json deploy/events-page/package-lock.json
	command -v npm >/dev/null || { echo "wushe: the events page needs Node.js and npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	cd deploy/events-page && npm ci --no-audit --no-fund --loglevel=error

# `make run` without npm still runs: the events page answers 503 saying what is missing
events-page:
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory $(EVENTS_PAGE); \
	 else echo "wushe: no npm, so no events page (/api/v1/event-docs answers 503)"; fi

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade 'pip>=23' 'setuptools<82'
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

broker: $(STAMP)
	./deploy/ensure-broker.sh

browser: ## Debian's chromium and a CJK font, where missing: the docs page test drives it headless
	./deploy/ensure-browser.sh

prometheus: ## Debian's prometheus (and promtool), where missing: the deploy tests check the rules, an e2e test scrapes the platform
	./deploy/ensure-prometheus.sh

clean: ## the virtualenvs and caches; the local data in var/ stays (rm -rf var to wipe it)
	rm -rf $(VENV) $(STORE_VENV) *.egg-info .pytest_cache deploy/asyncapi-check/node_modules deploy/events-page/node_modules
