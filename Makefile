# Kunci: `make run` starts the demo, `make test` runs the whole suite. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
ISSUER_PORT ?= 8000
APP1_PORT ?= 8082
APP2_PORT ?= 8083
# gunicorn manages the processes; each runs waitress (settings/worker.py), which reads every request
# whole before a thread sees it, so slow or idle clients cost a socket, never a thread.
SERVE_ARGS ?= --worker-class settings.worker.WaitressWorker --workers 2 --threads 4 --keep-alive 5 \
	--access-logfile - --log-level warning --no-control-socket

.PHONY: install node-packages run serve manage test rotate-keys keys bench clean

install: $(INSTALLED)

$(INSTALLED): requirements.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# openid-client for the e2e tests (tests/e2e/node), reinstalled when its lockfile changes. Without
# node the tests skip and say why; with node, a failed install fails.
NODE_PACKAGES := tests/e2e/node
NODE_INSTALLED := $(NODE_PACKAGES)/node_modules/.kunci-installed

node-packages: $(NODE_INSTALLED)

$(NODE_INSTALLED): $(NODE_PACKAGES)/package.json $(NODE_PACKAGES)/package-lock.json
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
	    echo "npm ci --prefix $(NODE_PACKAGES)"; \
	    npm ci --prefix $(NODE_PACKAGES) --no-audit --no-fund --loglevel=error && touch $@; \
	else \
	    echo "node/npm not found: the openid-client e2e tests will be skipped"; \
	fi

# Demo mode: secrets are generated once under var/ (owner-only) and reused on every run.
run: export KUNCI_DEMO := 1
run: install
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py ensure_keys --skip-checks
	DJANGO_SETTINGS_MODULE=settings.rp KUNCI_RP_NAME=app1 $(PY) manage.py migrate --noinput -v 0 --skip-checks
	DJANGO_SETTINGS_MODULE=settings.rp KUNCI_RP_NAME=app2 $(PY) manage.py migrate --noinput -v 0 --skip-checks
	@echo
	@$(PY) manage.py demo_user --skip-checks
	@$(PY) manage.py demo_clients --skip-checks \
	    --app app1=http://127.0.0.1:$(APP1_PORT) --app app2=http://127.0.0.1:$(APP2_PORT)
	@echo "issuer: http://127.0.0.1:$(ISSUER_PORT)  app1: http://127.0.0.1:$(APP1_PORT)  app2: http://127.0.0.1:$(APP2_PORT)"
	@echo "Ctrl-C stops all three."
	@echo
	@$(MAKE) --no-print-directory serve

# The issuer and two relying parties; Ctrl-C (or any one exiting) stops all three.
serve: export KUNCI_DEMO ?= 1
serve: export KUNCI_ISSUER ?= http://127.0.0.1:$(ISSUER_PORT)
serve: install
	@trap 'kill $$(jobs -p) 2>/dev/null; wait' INT TERM EXIT; \
	DJANGO_SETTINGS_MODULE=settings.idp $(PY) -m gunicorn settings.wsgi:application \
	    --bind 127.0.0.1:$(ISSUER_PORT) $(SERVE_ARGS) & \
	DJANGO_SETTINGS_MODULE=settings.rp KUNCI_RP_NAME=app1 $(PY) -m gunicorn settings.wsgi:application \
	    --bind 127.0.0.1:$(APP1_PORT) $(SERVE_ARGS) & \
	DJANGO_SETTINGS_MODULE=settings.rp KUNCI_RP_NAME=app2 $(PY) -m gunicorn settings.wsgi:application \
	    --bind 127.0.0.1:$(APP2_PORT) $(SERVE_ARGS) & \
	wait -n

# The browser tests need Debian's chromium and chromium-driver (.ci/run installs them); without
# them they skip, and pytest's header and summary say so.
test: install node-packages
	env -u KUNCI_DEMO $(PY) -m pytest $(PYTEST_ARGS)

# Any management command against the demo stack, e.g. make manage ARGS="createsuperuser".
# The issuer by default; SETTINGS=settings.rp RP=app1 for a demo app.
manage: export KUNCI_DEMO ?= 1
manage: install
	DJANGO_SETTINGS_MODULE=$(or $(SETTINGS),settings.idp) KUNCI_RP_NAME=$(or $(RP),app1) $(PY) manage.py $(ARGS)

rotate-keys: export KUNCI_DEMO ?= 1
rotate-keys: install
	$(PY) manage.py rotate_keys $(ARGS)

keys: export KUNCI_DEMO ?= 1
keys: install
	$(PY) manage.py keys

# Benchmarks print Markdown tables for BENCHMARKS.md; BENCH_ARGS=--smoke runs them tiny.
bench: install
	env -u KUNCI_DEMO $(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis .schemathesis
