"""PostgreSQL instance storage (dagster_home_pg/dagster.yaml, DAGSTER_PG_URL) on a real server.

The server is Debian's PostgreSQL, started in a temporary folder for this module; without its
binaries the database tests skip locally (``.ci/run`` installs the package, so CI runs them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import dagster as dg
import psycopg2
import pytest
import yaml
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from prism_pipeline_tests.pipeline import make_defs, run_job, tiny_raw_dir
from prism_pipeline_tests.ui_stack import (
    INSTANCE_YAML,
    LOCATION,
    PG_INSTANCE_YAML,
    REPO_ROOT,
    REPOSITORY,
    create_database,
    dagster_pg_url,
    postgres_bin_dir,
    running_postgres,
    running_ui_stack,
    wait_for_run,
)


def test_postgres_instance_differs_from_the_sqlite_one_only_in_storage():
    sqlite = yaml.safe_load(INSTANCE_YAML.read_text())
    postgres = yaml.safe_load(PG_INSTANCE_YAML.read_text())
    assert "storage" not in sqlite
    assert postgres.pop("storage") == {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}
    assert postgres == sqlite


@pytest.mark.parametrize(("given", "home", "url"), [
    (None, "dagster_home", ""),
    ("postgresql://prism:secret@db.internal:5432/dagster", "dagster_home_pg",
     "postgresql+psycopg2://prism:secret@db.internal:5432/dagster"),
    ("postgresql+psycopg2://prism@db.internal/dagster", "dagster_home_pg",
     "postgresql+psycopg2://prism@db.internal/dagster"),
])
def test_makefile_selects_the_instance_from_dagster_pg_url(tmp_path, given, home, url):
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    show = tmp_path / "show.mk"
    show.write_text('show-env:\n\t@echo "$$DAGSTER_HOME|$$DAGSTER_PG_URL"\n')
    # Not inherited from an outer `make test`.
    env = {k: v for k, v in os.environ.items()
           if k not in {"DAGSTER_HOME", "DAGSTER_PG_URL", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    if given is not None:
        env["DAGSTER_PG_URL"] = given
    done = subprocess.run(["make", "-s", "--no-print-directory", "-f", "Makefile", "-f", str(show), "show-env"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True)
    assert done.stdout == f"{REPO_ROOT}/{home}|{url}\n"


@pytest.fixture(scope="module")
def pg_server():
    if postgres_bin_dir() is None:
        pytest.skip("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
                    "(apt-get install -y postgresql; .ci/run installs it)")
    with running_postgres() as url:
        yield url


def pg_home(path, url, monkeypatch):
    path.mkdir()
    shutil.copyfile(PG_INSTANCE_YAML, path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_pg_url(url))
    return path


def query(url: str, sql: str, *args) -> list[tuple]:
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchall()
    finally:
        connection.close()


def materialised_keys(url: str, run_id: str) -> set[str]:
    rows = query(url, "SELECT DISTINCT asset_key FROM event_logs "
                      "WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'", run_id)
    return {"/".join(json.loads(key)) for (key,) in rows}


def check_results(url: str, run_id: str) -> dict[str, str]:
    rows = query(url, "SELECT asset_key, check_name, execution_status FROM asset_check_executions "
                      "WHERE run_id = %s", run_id)
    return {"/".join(json.loads(key)) + ":" + name: status for key, name, status in rows}


def graph_keys(defs: dg.Definitions) -> tuple[set[str], set[str], set[str]]:
    """(materialisable assets, source assets, checks) of the code location."""
    graph = defs.resolve_asset_graph()
    return ({key.to_user_string() for key in graph.materializable_asset_keys},
            {key.to_user_string() for key in graph.observable_asset_keys},
            {key.to_user_string() for key in graph.asset_check_keys})


def observed_keys(url: str, run_id: str) -> set[str]:
    rows = query(url, "SELECT DISTINCT asset_key FROM event_logs "
                      "WHERE run_id = %s AND dagster_event_type = 'ASSET_OBSERVATION'", run_id)
    return {"/".join(json.loads(key)) for (key,) in rows}


@pytest.mark.slow
def test_in_process_run_is_stored_in_postgres(tmp_path, pg_server, monkeypatch):
    url = create_database(pg_server, "in_process")
    home = pg_home(tmp_path / "home", url, monkeypatch)
    defs = make_defs(tiny_raw_dir(tmp_path / "raw"), tmp_path / "release", tmp_path / "state")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        result = run_job(defs, instance=instance)
    assert result.success

    assets, sources, checks = graph_keys(defs)
    assert query(url, "SELECT run_id, pipeline_name, status FROM runs") == [
        (result.run_id, "full_release", "SUCCESS")]
    assert materialised_keys(url, result.run_id) == assets
    assert observed_keys(url, result.run_id) == sources  # every raw/reference file and setting
    assert check_results(url, result.run_id) == {check: "SUCCEEDED" for check in checks}
    # Nothing went to the SQLite files that the default instance would have written.
    assert not (home / "history").exists() and not (home / "schedules").exists()

    # Another instance on the same database (the UI, another machine) sees the run.
    other = tmp_path / "other"
    other.mkdir()
    shutil.copyfile(PG_INSTANCE_YAML, other / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(other)) as instance:
        assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS
        assert {key.to_user_string() for key in instance.get_asset_keys()} == assets | sources


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Using variable_values and operation_name:DeprecationWarning")
def test_ui_stack_runs_and_stores_in_postgres(tmp_path, pg_server, monkeypatch):
    """dagster dev on the PostgreSQL instance: the webserver queues the run, the daemon launches
    it, a run worker executes it, and every record lands in the database. The graph's root assets
    (with their checks) keep it short: the whole graph through the UI is test_ui_graphql's job."""
    url = create_database(pg_server, "ui_stack")
    raw = tiny_raw_dir(tmp_path / "raw")
    graph = make_defs(raw, tmp_path / "release", tmp_path / "state").resolve_asset_graph()
    # The first materialised layer: assets whose parents are all source files or settings.
    roots = sorted(key.to_user_string() for key in graph.materializable_asset_keys
                   if all(p in graph.observable_asset_keys for p in graph.get(key).parent_keys))
    root_checks = {key.to_user_string() for key in graph.asset_check_keys
                   if key.asset_key.to_user_string() in roots}
    with running_ui_stack(tmp_path / "ui", raw, instance_yaml=PG_INSTANCE_YAML,
                          extra_env={"DAGSTER_PG_URL": dagster_pg_url(url)}) as stack:
        run_id = stack.client().submit_job_execution("full_release", repository_location_name=LOCATION,
                                                      repository_name=REPOSITORY, asset_selection=roots)
        status = wait_for_run(stack, run_id)
    assert status == dg.DagsterRunStatus.SUCCESS, stack.log_tail()

    assert query(url, "SELECT run_id, pipeline_name, status FROM runs") == [(run_id, "full_release", "SUCCESS")]
    assert materialised_keys(url, run_id) == set(roots)
    assert check_results(url, run_id) == {check: "SUCCEEDED" for check in root_checks}
    assert not (stack.home / "history").exists()
