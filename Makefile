.PHONY: run test lint format migrations-check

run:  ## Set up and run the embedded demo at http://localhost:8000
	./scripts/demo.sh

test:  ## Set up and run the whole test suite (SQLite, then PostgreSQL with Redis)
	./scripts/test.sh

lint:  ## Lint and check formatting
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:  ## Format and fix what ruff can
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

migrations-check:  ## Fail when models and migrations disagree
	.venv/bin/python manage.py makemigrations --check --dry-run
