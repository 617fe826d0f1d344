# Two commands matter: `make run` serves the app with embedded defaults, `make test` runs everything.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask
export FLASK_APP := app:create_app
# The Postgres pass of the suite; CI starts this server, locally it is used when it answers.
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/startline_test
# pytest-xdist workers per pass, one a CPU core; each has its own database (PG_TEST_URL's name + "_gw0", …).
# `make test TEST_WORKERS=1` runs the tests one after another in one worker (output in order, for debugging);
# TEST_WORKERS=0 runs them in the pytest process itself, so --pdb and breakpoint() work.
TEST_WORKERS ?= 2
# Bytecode written even where the environment says not to (PYTHONDONTWRITEBYTECODE): every worker of each pass
# collects the suite, and without the cached, assertion-rewritten .pyc files each compiles every module anew
# (~8 s of CPU a worker).
PYTEST := PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal
PYBABEL := $(VENV)/bin/pybabel

.PHONY: run test lint bench worker clean css translations compile-translations

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.deps: requirements.txt | $(VENV)/bin/activate
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt $(VENV)/.deps
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

## run: migrate the local database, add the sample races if it is empty, serve on :5000
run: $(VENV)/.deps compile-translations
	$(FLASK) db upgrade
	$(FLASK) seed-demo --if-empty
	MAIL_WORKER_IN_PROCESS=1 $(FLASK) run --host 127.0.0.1 --port 5000

## worker: send queued email and run the scheduled jobs (production runs this as its own process; `make run` in-process)
worker: $(VENV)/.deps
	$(FLASK) outbox-worker

## test: the whole suite on SQLite, then again on Postgres when one answers (the browser tests once, there),
## each pass spread over TEST_WORKERS processes. The Postgres pass leaves out the tests that never reach the
## database (no app, db or client fixture): they ran the same in the SQLite pass.
test: $(VENV)/.dev-deps compile-translations
	@if $(PY) -c "import psycopg,sys; psycopg.connect('$(PG_TEST_URL)'.rsplit('/',1)[0] + '/postgres', connect_timeout=3).close()" 2>/dev/null; then \
		echo "== SQLite pass (the browser tests run in the Postgres pass)"; \
		$(PYTEST) -m "not browser" && \
		echo "== Postgres pass ($(PG_TEST_URL))" && \
		TEST_DATABASE_URL=$(PG_TEST_URL) $(PYTEST) -m "not sqlite_only" --database-tests-only; \
	elif [ -n "$$REQUIRE_POSTGRES" ]; then \
		echo "Postgres at $(PG_TEST_URL) does not answer, and REQUIRE_POSTGRES is set." >&2; exit 1; \
	else \
		echo "== SQLite pass, browser tests included (Postgres skipped: nothing answers at $(PG_TEST_URL))"; \
		$(PYTEST); \
	fi

## translations: extract every message into translations/messages.pot, bring each language's messages.po up to
## date with it (new messages untranslated, none guessed), and compile them. Then translate what is new in each
## .po (tests/test_translations.py says what is missing) and commit the .po files; the .mo files are not committed.
## A new language: $(PYBABEL) init -i translations/messages.pot -d translations -l fr, then translate it.
translations: $(VENV)/.deps
	$(PYBABEL) extract -F babel.cfg -k lazy_gettext -k lazy_ngettext:1,2 -k _l --add-location=file \
		--sort-by-file --project=Startline --copyright-holder=Startline --msgid-bugs-address=dev@startline.invalid \
		--no-wrap -o translations/messages.pot .
	$(PYBABEL) update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete --no-wrap
	$(PYBABEL) compile -d translations --statistics

## compile-translations: the .mo files Flask-Babel reads, from the committed .po files (make run and make test do it)
compile-translations: $(VENV)/.deps
	$(PYBABEL) compile -d translations

## css: rebuild static/css/{race,site,manage}.css from assets/css/ (Pico + app.css) with PurgeCSS; commit the result.
## Run it after editing assets/css/app.css or adding classes to templates (needs npx; tests say when it is due)
css: $(VENV)/.dev-deps
	$(PY) assets/build_css.py

## lint: ruff, and no drift between the models and the migrations
lint: $(VENV)/.dev-deps
	$(VENV)/bin/ruff check .
	@# The models and the migrations agree: migrate an empty database of this run's own, then compare.
	@db=$$(mktemp /tmp/startline-lint-XXXXXX.db) && rm -f $$db && \
		DATABASE_URL=sqlite:///$$db $(FLASK) db upgrade && DATABASE_URL=sqlite:///$$db $(FLASK) db check; \
		status=$$?; rm -f $$db; exit $$status

## bench: every goal of issue 17 in one run: pages against two baselines, the opening spike per worker model,
## two instances with Redis, growth to 50,000 registrations (10–15 minutes; writes bench/results.json and
## bench/RESULTS.md; fails only for correctness; not part of `make test`)
bench: $(VENV)/.dev-deps
	@command -v wrk >/dev/null && command -v redis-server >/dev/null || { echo "== installing wrk and redis-server (Debian packages)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y wrk redis-server || { $$SUDO apt-get update && $$SUDO apt-get install -y wrk redis-server; }; }
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) instance/startline.db .pytest_cache
