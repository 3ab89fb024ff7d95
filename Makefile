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

.PHONY: install node-packages run serve manage test rotate-keys keys messages bench clean

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
	@if [ -z "$$KUNCI_EMAIL_URL" ]; then echo "mail (activation, password reset): one file per message in $${KUNCI_VAR_DIR:-var}/mail/"; \
	else echo "mail: KUNCI_EMAIL_URL"; fi
	@echo "Ctrl-C stops all four (the issuer, app1, app2 and the outbox worker)."
	@echo
	@$(MAKE) --no-print-directory serve

# The issuer, two relying parties and the outbox worker; Ctrl-C (or any one exiting) stops all four.
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
	DJANGO_SETTINGS_MODULE=settings.idp $(PY) manage.py run_outbox --skip-checks & \
	wait -n

# The suite runs in one worker more than the cores (pytest-xdist), since the end-to-end tests spend
# much of their time waiting on their servers; one test file per worker at a time, so that a file's
# servers start once. PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
# The browser tests need Debian's chromium and chromium-driver (.ci/run installs them); without
# them they skip, and pytest's header and summary say so.
test: install node-packages
	env -u KUNCI_DEMO $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

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

# After a page's text changed: collect the marked strings into every catalogue under locale/, then
# translate what is new (msgstr "") or changed (#, fuzzy) and run this again to compile the .mo
# files, which are committed: running and testing Kunci need no gettext tools, only this does
# (apt-get install gettext). tests/i18n fail while a string lacks a translation or a .mo is stale.
messages: install
	@command -v xgettext >/dev/null && command -v msgfmt >/dev/null || \
	    { echo "make messages needs GNU gettext: apt-get install gettext" >&2; exit 1; }
	$(PY) manage.py makemessages --all --add-location file --ignore 'tests/*' --ignore 'bench/*' --ignore 'var/*'
	@# The date changes on every run; it would make every run change every catalogue.
	sed -i '/^"POT-Creation-Date: /d' locale/*/LC_MESSAGES/django.po
	for po in locale/*/LC_MESSAGES/django.po; do msgfmt --check-format --output-file "$${po%.po}.mo" "$$po" || exit 1; done

# Benchmarks print Markdown tables for BENCHMARKS.md; BENCH_ARGS=--smoke runs them tiny.
bench: install
	env -u KUNCI_DEMO $(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis .schemathesis
