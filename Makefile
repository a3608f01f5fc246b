# Tidepool CRM. `make run` starts everything on embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
export TIDEPOOL_PORT := $(PORT)

.DEFAULT_GOAL := help
.PHONY: help run test lint format demo migrate messages bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.deps-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q .
	@touch $@

$(VENV)/.deps-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q ".[test]"
	@touch $@ $(VENV)/.deps-run

run: $(VENV)/.deps-run ## migrate, load demo data once, start web + worker + beat on http://127.0.0.1:$(PORT)
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --no-input -v 0
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py demo
	@echo ""
	@echo "  Tidepool CRM: http://127.0.0.1:$(PORT)/   (platform admin: http://127.0.0.1:$(PORT)/admin/)"
	@echo "  Broker: $${REDIS_URL:-embedded (filesystem, var/celery)}   Database: $${DATABASE_URL:-embedded SQLite (var/db.sqlite3)}"
	@echo "  Press Ctrl+C to stop web, worker and beat."
	@echo ""
	DEBUG=$${DEBUG:-1} $(BIN)/honcho start -f Procfile

demo: $(VENV)/.deps-run ## load the demo data (idempotent)
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --no-input -v 0
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py demo

test: $(VENV)/.deps-test ## run the whole suite (SQLite; PostgreSQL when DATABASE_URL is set)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.deps-test ## ruff check, ruff format --check, import layers, makemigrations --check
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff format --check .
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python manage.py makemigrations --check --dry-run

format: $(VENV)/.deps-test ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

messages: $(VENV)/.deps-run ## refresh the zh_Hans catalogue and compile it (needs gettext)
	DEBUG=1 $(BIN)/python manage.py makemessages -l zh_Hans --ignore=.venv --ignore=tests --ignore=var --ignore=bench --no-obsolete --add-location=file
	DEBUG=1 $(BIN)/python manage.py compilemessages -l zh_Hans --ignore=.venv

bench: $(VENV)/.deps-run ## customer list benchmark (CUSTOMERS=20000; DATABASE_URL for PostgreSQL)
	DEBUG=1 $(BIN)/python bench/customer_list.py --customers $${CUSTOMERS:-20000}

clean: ## remove the virtualenv and the embedded data (var/)
	rm -rf $(VENV) var
