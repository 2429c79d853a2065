"""The real Dagster UI stack for tests: ``dagster dev`` (webserver + daemon + code server), and a
throw-away PostgreSQL server for the PostgreSQL instance storage.

``running_ui_stack`` starts the same command as ``make ui`` on a free loopback port, with a
temporary ``DAGSTER_HOME`` holding a copy of the committed ``dagster_home/dagster.yaml`` and the
``PRISM_*`` and ``THOUGHTTRACE_*`` variables pointing at temporary folders, waits until every code
location of the workspace is loaded (``workspace.yaml``: PRISM's and ThoughtTrace's, or one of them,
``location_workspace``), and
always stops the whole process group afterwards (the run workers that the code server spawns
belong to it too). ``running_postgres`` runs Debian's PostgreSQL binaries (initdb, pg_ctl) on a
free loopback port in a temporary folder, as the ``postgres`` user when the tests run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import requests
from dagster import DagsterRunStatus
from dagster_graphql import DagsterGraphQLClient

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTANCE_YAML = REPO_ROOT / "dagster_home" / "dagster.yaml"
PG_INSTANCE_YAML = REPO_ROOT / "dagster_home_pg" / "dagster.yaml"
WORKSPACE_YAML = REPO_ROOT / "workspace.yaml"
DAGSTER_BIN = Path(sys.executable).parent / "dagster"
# workspace.yaml names the location after the module; a Definitions object's repository is
# always called __repository__.
LOCATION = "prism"
THOUGHTTRACE_LOCATION = "thoughttrace"
REPOSITORY = "__repository__"
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}

WORKSPACE_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""
ASSET_NODES_QUERY = """
query LocationAssets($location: String!, $repository: String!) {
  repositoryOrError(repositorySelector: {repositoryLocationName: $location, repositoryName: $repository}) {
    __typename
    ... on Repository { assetNodes {
      assetKey { path }
      groupName
      isMaterializable
      dependencyKeys { path }
      dependedByKeys { path }
      assetChecksOrError { __typename ... on AssetChecks { checks { name } } } } }
    ... on PythonError { message }
  }
}
"""
RUN_EVENTS_QUERY = """
query RunEvents($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor) {
    __typename
    ... on EventConnection {
      cursor hasMore
      events {
        __typename
        ... on MaterializationEvent { assetKey { path } }
        ... on ObservationEvent { assetKey { path } }
        ... on AssetCheckEvaluationEvent {
          evaluation { checkName success assetKey { path } description } }
      }
    }
    ... on PythonError { message }
  }
}
"""


class UiStackError(RuntimeError):
    """The UI stack did not start, or answered with an error."""


@dataclass(frozen=True)
class UiStack:
    port: int
    home: Path
    raw: Path
    out: Path
    state: Path
    log: Path
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self) -> DagsterGraphQLClient:
        return DagsterGraphQLClient(self.host, port_number=self.port, timeout=60)

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}},
                                 timeout=60)
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise UiStackError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    """A loopback port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A shell that starts a job in the background makes it ignore SIGINT, the children inherit that,
# and dagster dev maps SIGTERM onto its SIGINT handler, so it would ignore SIGTERM too. This
# trampoline restores the default SIGINT before exec (thread-safe, unlike Popen's preexec_fn).
_WITH_DEFAULT_SIGINT = [sys.executable, "-c",
                        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                        "os.execv(sys.argv[1], sys.argv[1:])"]


def stop_process_group(process: subprocess.Popen, grace_seconds: float = 20.0) -> None:
    """SIGTERM the whole group, wait for the leader, then SIGKILL whatever is left."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


def wait_until_loaded(stack: UiStack, process: subprocess.Popen, timeout: float,
                      locations: tuple[str, ...] = (LOCATION,)) -> None:
    """Until the webserver answers and each of ``locations`` has loaded without error."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise UiStackError(f"dagster dev exited with {process.returncode}:\n{stack.log_tail()}")
        try:
            data = stack.graphql(WORKSPACE_QUERY)
        except (requests.RequestException, UiStackError) as error:
            last = str(error)
        else:
            entries = {e["name"]: e for e in data["workspaceOrError"].get("locationEntries", [])}
            loaded = [entries[name] for name in locations if name in entries
                      and entries[name]["loadStatus"] == "LOADED"]
            for entry in loaded:
                location = entry["locationOrLoadError"] or {}
                if location.get("__typename") != "RepositoryLocation":
                    raise UiStackError(f"code location {entry['name']} failed to load: {location.get('message')}")
            if len(loaded) == len(locations):
                return
            last = f"location entries: {sorted(entries)}"
        time.sleep(0.5)
    raise UiStackError(f"UI stack not ready after {timeout:.0f}s ({last}):\n{stack.log_tail()}")


@contextmanager
def running_ui_stack(base: Path, raw: Path, *, instance_yaml: Path = INSTANCE_YAML,
                     extra_env: dict[str, str] | None = None, workspace: Path = WORKSPACE_YAML,
                     startup_timeout: float = 180.0) -> Iterator[UiStack]:
    """``dagster dev -w workspace.yaml`` on a free port, its instance and outputs under ``base``
    (``raw``: PRISM's raw folder; ThoughtTrace's folders are ``base/thoughttrace/*``)."""
    home = base / "dagster_home"
    home.mkdir(parents=True)
    shutil.copyfile(instance_yaml, home / "dagster.yaml")
    stack = UiStack(port=free_port(), home=home, raw=raw, out=base / "release", state=base / "state",
                    log=base / "dagster-dev.log")
    thoughttrace = {f"THOUGHTTRACE_{name.upper()}_DIR": str(base / "thoughttrace" / name)
                    for name in ("raw", "output", "state")}
    env = {**os.environ, "DAGSTER_HOME": str(home), "PRISM_RAW_DIR": str(raw),
           "PRISM_OUTPUT_DIR": str(stack.out), "PRISM_STATE_DIR": str(stack.state), **thoughttrace,
           **(extra_env or {})}
    with stack.log.open("wb") as log:
        process = subprocess.Popen(
            _WITH_DEFAULT_SIGINT + [str(DAGSTER_BIN), "dev", "-w", str(workspace),
                                    "-h", stack.host, "-p", str(stack.port)],
            cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        wait_until_loaded(stack, process, startup_timeout, workspace_locations(workspace))
        yield stack
    finally:
        stop_process_group(process)


def wait_for_run(stack: UiStack, run_id: str, timeout: float = 300.0) -> DagsterRunStatus:
    """Poll the run's status over GraphQL until it has finished (bounded by ``timeout``)."""
    client = stack.client()
    deadline = time.monotonic() + timeout
    status = client.get_run_status(run_id)
    while status not in FINISHED:
        if time.monotonic() > deadline:
            raise UiStackError(f"run {run_id} still {status.value} after {timeout:.0f}s:\n{stack.log_tail()}")
        time.sleep(1.0)
        status = client.get_run_status(run_id)
    return status


def run_events(stack: UiStack, run_id: str) -> list[dict]:
    """Every event of a run, following the cursor."""
    events, cursor = [], None
    while True:
        page = stack.graphql(RUN_EVENTS_QUERY, {"runId": run_id, "cursor": cursor})["logsForRun"]
        if page["__typename"] != "EventConnection":
            raise UiStackError(f"logsForRun({run_id}): {page}")
        events += page["events"]
        if not page["hasMore"]:
            return events
        cursor = page["cursor"]


def workspace_locations(workspace: Path) -> tuple[str, ...]:
    """The location names a workspace file loads."""
    import yaml

    entries = yaml.safe_load(workspace.read_text())["load_from"]
    return tuple(entry["python_module"]["location_name"] for entry in entries)


def location_workspace(base: Path, location: str) -> Path:
    """A copy of workspace.yaml with only ``location``: ``Materialize all`` on the global asset
    graph launches one run, which Dagster allows for assets of one code location only."""
    import yaml

    config = yaml.safe_load(WORKSPACE_YAML.read_text())
    config["load_from"] = [e for e in config["load_from"] if e["python_module"]["location_name"] == location]
    path = base / f"workspace-{location}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def asset_graph(stack: UiStack, location: str = LOCATION) -> dict[str, dict]:
    """One code location's asset nodes by key string ("a/b"): group, whether it is materialised
    (else a source observed), parents, children and the names of their checks."""
    nodes = {}
    repository = stack.graphql(ASSET_NODES_QUERY, {"location": location, "repository": REPOSITORY})
    if repository["repositoryOrError"]["__typename"] != "Repository":
        raise UiStackError(f"location {location}: {repository['repositoryOrError']}")
    for node in repository["repositoryOrError"]["assetNodes"]:
        checks = node["assetChecksOrError"]
        nodes["/".join(node["assetKey"]["path"])] = {
            "group": node["groupName"],
            "materializable": node["isMaterializable"],
            "parents": {"/".join(k["path"]) for k in node["dependencyKeys"]},
            "children": {"/".join(k["path"]) for k in node["dependedByKeys"]},
            "checks": {c["name"] for c in checks.get("checks", [])},
        }
    return nodes


def create_database(server_url: str, name: str) -> str:
    """CREATE DATABASE on the server of ``server_url`` (a libpq URL); the new database's URL."""
    connection = psycopg2.connect(server_url)
    try:
        connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def dagster_pg_url(libpq_url: str) -> str:
    """The DAGSTER_PG_URL form of a libpq URL: SQLAlchemy 2.1 maps a bare postgresql:// to
    psycopg 3, but dagster-postgres needs psycopg2 (its NOTIFY uses client-side parameters)."""
    return libpq_url.replace("postgresql://", "postgresql+psycopg2://", 1)


def postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL server's bin folder (Debian layout), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


@contextmanager
def running_postgres(database: str = "dagster") -> Iterator[str]:
    """A PostgreSQL server on a free loopback port with an empty ``database``; yields its libpq
    URL (``postgresql://prism@127.0.0.1:PORT/DATABASE``, trusted local user, no password).

    initdb refuses to run as root, so as root the server runs as the ``postgres`` system user, in
    a folder outside pytest's root-only tmp tree that the user owns.
    """
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    base = Path(tempfile.mkdtemp(prefix="prism-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(base, owner.pw_uid, owner.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port, user = free_port(), "prism"
    data, log = base / "data", base / "server.log"

    def run(*args: str) -> None:
        done = subprocess.run(prefix + list(args), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=120)
        if done.returncode:
            raise RuntimeError(f"{Path(args[0]).name} failed ({done.returncode}): {done.stderr or done.stdout}")

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8",
            "--no-sync", "--no-instructions")
        # Unix socket in the private folder, TCP on loopback only; no fsync: the data is thrown away.
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
        try:
            create_database(f"postgresql://{user}@127.0.0.1:{port}/postgres", database)
            yield f"postgresql://{user}@127.0.0.1:{port}/{database}"
        finally:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)
