# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test unit dlq chaos bench asyncapi demo seed install broker clean

run: $(STAMP) broker ## start the five services and the gateway with the demo data (SCALE="volunteers=2": a process per instance)
	$(PY) -m wushe.cli run $(if $(SCALE),--scale $(SCALE))

test: $(STAMP) ## the whole suite, against the real broker
	./deploy/ensure-broker.sh --management
	$(PY) -m pytest $(PYTEST_ARGS)

unit: $(STAMP) ## the pure-domain tests only; no broker needed
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

chaos: $(STAMP) ## the full chaos run (CHAOS_ARGS="--needs 2000 --broker-down 12 …")
	./deploy/ensure-broker.sh --management
	$(PY) -m tests.chaos $(CHAOS_ARGS)

bench: $(STAMP) ## the linkage under paced load beside the framework's floor (BENCH_ARGS="--quick", "--scale gateway=2", "--profile community")
	./deploy/ensure-broker.sh --management
	$(PY) -m tests.bench $(BENCH_ARGS)

dlq: $(STAMP) ## list dead-lettered messages (replay: .venv/bin/wushe dlq replay SERVICE [ID …])
	$(PY) -m wushe.cli dlq list

demo: $(STAMP) ## a day of Taida street through the running platform (`make run` first; WUSHE_ADMIN_KEY=…)
	$(PY) -m wushe.cli demo $(DEMO_ARGS)

seed: $(STAMP) ## load the demo data into the running platform (WUSHE_ADMIN_KEY=…)
	$(PY) -m wushe.cli seed

asyncapi: $(STAMP) ## write the AsyncAPI 3 document of the events to deploy/asyncapi.json
	$(PY) -m wushe.asyncapi > deploy/asyncapi.json

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade 'pip>=23' 'setuptools<82'
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

broker: $(STAMP)
	./deploy/ensure-broker.sh

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
