# The two commands of the README: `make run` and `make test`. Both build .venv themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Persistent instance (SQLite run/event/schedule storage) inside the repo, git-ignored.
export DAGSTER_HOME := $(CURDIR)/dagster_home

.PHONY: venv run test ui generate clean

venv: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -c requirements/constraints.txt -e ".[dev]"
	touch $(STAMP)

## Materialise every asset on the bundled sample (data/raw) and print where the release went.
run: venv
	$(BIN)/prism-pipeline run

## Run the test suite.
test: venv
	$(BIN)/python -m pytest -q

## Webserver + daemon on http://127.0.0.1:3000 with the persistent DAGSTER_HOME.
ui: venv
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

## Generate release-shaped synthetic PRISM data at full scale into data/synthetic.
generate: venv
	$(BIN)/prism-pipeline generate --out data/synthetic --scale 1

clean:
	rm -rf data/release data/state
