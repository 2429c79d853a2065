# The two commands of the README: `make run` and `make test`. Both build .venv themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Persistent instance inside the repo (git-ignored but its dagster.yaml): SQLite run/event/schedule
# storage in dagster_home/, or PostgreSQL through dagster_home_pg/ when DAGSTER_PG_URL is set.
export DAGSTER_HOME := $(CURDIR)/$(if $(DAGSTER_PG_URL),dagster_home_pg,dagster_home)
ifdef DAGSTER_PG_URL
# dagster-postgres needs the psycopg2 driver; SQLAlchemy 2.1 maps a bare postgresql:// URL to psycopg 3.
override export DAGSTER_PG_URL := $(patsubst postgresql://%,postgresql+psycopg2://%,$(DAGSTER_PG_URL))
endif

.PHONY: venv venv-all run test test-all ui generate clean

venv: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -c requirements/constraints.txt -e ".[dev]"
	touch $(STAMP)

# The optional extras too (dask: the distributed executor), for the slow tier.
venv-all: $(VENV)/.installed-all

$(VENV)/.installed-all: $(STAMP)
	$(BIN)/pip install --quiet -c requirements/constraints.txt -e ".[dev,dask]"
	touch $@

## Materialise every asset of both code locations on their bundled samples (data/raw,
## data/thoughttrace/raw) and print where each release went.
run: venv
	$(BIN)/prism-pipeline run
	$(BIN)/prism-pipeline run --dataset thoughttrace

## The fast tier: every test not marked slow (no servers, browser, cluster or whole-graph run of its own).
test: venv
	$(BIN)/python -m pytest -q -m "not slow" --durations=10

## Every test, the slow tier included (what CI runs): needs chromium and PostgreSQL (.ci/run installs them).
test-all: venv-all
	PRISM_TEST_ALL=1 $(BIN)/python -m pytest -q --durations=25

## Webserver + daemon on http://127.0.0.1:3000 with the persistent DAGSTER_HOME (docs/operating.md).
ui: venv
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

## Generate release-shaped synthetic PRISM data at full scale into data/synthetic.
generate: venv
	$(BIN)/prism-pipeline generate --out data/synthetic --scale 1

clean:
	rm -rf data/release data/state data/thoughttrace/release data/thoughttrace/state
