# The two commands a newcomer runs (see README.md).
.PHONY: run test lint bench chaos

run:
	./scripts/setup
	.venv/bin/ioc demo

test:
	./scripts/setup --test
	.venv/bin/ruff check .
	.venv/bin/mypy ioc collectors alerts dashboards
	.venv/bin/pytest -q

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy ioc collectors alerts dashboards

bench:
	.venv/bin/python bench/ingest.py
	.venv/bin/python bench/alerts.py
	.venv/bin/python bench/reads.py

chaos:
	.venv/bin/python bench/chaos.py
