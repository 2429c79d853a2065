"""A Dagster executor that runs each step on a dask.distributed cluster, dynamic graphs included.

Why not dagster-dask's own ``dask_executor`` as it is: it submits the whole plan to dask up
front, level by level (``ExecutionPlan.get_steps_to_execute_by_level``). Steps mapped over a
``DynamicOut`` are unknown until their upstream step has run, so that list leaves out
``text_flags``' ``flag_shard[...]`` steps and everything downstream of them, and the run
still ends as a success having written no flags or release (dagster-dask 0.29.27;
``prism_pipeline_tests/test_dask_executor.py`` shows it). This executor keeps dagster-dask's
config schema (``cluster: existing: address: tcp://...`` or ``local``, ``ssh``, ``yarn``,
``pbs``, ``slurm``, ``kube``, ...) and its worker entry point (``query_on_dask_worker``: the
step is rebuilt from the reconstructable job inside a dask worker and runs there against the
persistent instance), but drives the plan the way Dagster's multiprocess executor does, with
``ActiveExecution``: a step is submitted once its inputs exist, a dynamic output's mapping
keys arrive with its step's events, and a plan left incomplete fails the run.

On the cluster: dask workers run tasks in threads and Dagster is not thread-safe, so give
each worker process one thread (``dask worker --nthreads 1``), as dagster-dask does for a
local cluster; and start workers non-daemonic (``DASK_DISTRIBUTED__WORKER__DAEMON=False``), or
the flagging step cannot start its detector process pool (a daemonic process may not have
children). Every worker needs the code, the same package versions and the shared
``PRISM_*`` dirs, like any per-step executor (README, "Beyond one machine").
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
import threading

import dagster as dg
import dask.distributed
from dagster import _check as check
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.context.system import PlanOrchestrationContext
from dagster._core.execution.plan.active import ActiveExecution
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._utils.error import serializable_error_info_from_exc_info
from dagster_dask.executor import DaskExecutor, get_dask_resource_requirements, query_on_dask_worker
from dagster_dask.executor import dask_executor as _dagster_dask_executor

# Cluster classes dagster-dask knows, by its config key (``existing`` is an address instead).
_CLUSTER_CLASSES = {
    "local": ("dask.distributed", "LocalCluster"),
    "ssh": ("dask.distributed", "SSHCluster"),
    "yarn": ("dask_yarn", "YarnCluster"),
    "pbs": ("dask_jobqueue", "PBSCluster"),
    "moab": ("dask_jobqueue", "MoabCluster"),
    "sge": ("dask_jobqueue", "SGECluster"),
    "lsf": ("dask_jobqueue", "LSFCluster"),
    "slurm": ("dask_jobqueue", "SLURMCluster"),
    "oar": ("dask_jobqueue", "OARCluster"),
    "kube": ("dask_kubernetes", "KubeCluster"),
}
# How long one wait for a finished step lasts before interrupts are checked again.
_POLL_SECONDS = 0.5


def _default_sigterm() -> bool:
    """In a worker's main thread (``Client.run``): SIGTERM back to its default when the worker
    ignores it. A dask worker process ignores SIGINT (its nanny handles it) and can end up
    ignoring SIGTERM too (Dagster maps SIGTERM to SIGINT's handler); an ignored signal is
    inherited by every process the worker starts, and Dagster stops each step's compute-log
    ``tail`` processes with SIGTERM and waits 30 s for each, so every step took a minute more
    (measured: 60.0 s between a step's success and the next event). True when it changed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        return True
    return False


class DynamicDaskExecutor(DaskExecutor):
    """dagster-dask's executor with plan-driven submission (module doc)."""

    def execute(self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan):
        check.invariant(plan_context.instance.is_persistent,
                        "the dask executor needs a persistent DagsterInstance (steps run in other processes)")
        job_name, run = plan_context.job_name, plan_context.dagster_run
        with contextlib.ExitStack() as stack:
            client = stack.enter_context(dask.distributed.Client(self._cluster(job_name, stack)))
            client.run(_default_sigterm)
            active = stack.enter_context(ActiveExecution(execution_plan, retry_mode=self.retries))
            yield DagsterEvent.engine_event(
                plan_context, f"Executing steps on the dask cluster at {client.scheduler.address}",
                EngineEventData(metadata={"dask_scheduler": client.scheduler.address}))
            running: dict[dask.distributed.Future, str] = {}
            idle = 0
            try:
                while not active.is_complete:
                    if active.check_for_interrupts():
                        active.mark_interrupted()
                        raise dg.DagsterExecutionInterruptedError()
                    steps = active.get_steps_to_execute()
                    for step in steps:
                        running[client.submit(
                            query_on_dask_worker, [], plan_context.reconstructable_job, run,
                            plan_context.run_config, [step.key], plan_context.instance.get_ref(),
                            active.get_known_state(),
                            # The run id in the key: dask reuses a finished task of the same key.
                            key=f"{job_name}.{step.key}.{run.run_id}", pure=False,
                            resources=get_dask_resource_requirements(step.tags))] = step.key
                    if not running:
                        yield from active.plan_events_iterator(plan_context)  # skips and abandons
                        idle = 0 if steps else idle + 1
                        if idle > 1:
                            break  # nothing runs nor can run: ActiveExecution's exit says what is left
                        continue
                    try:
                        done = dask.distributed.wait(list(running), timeout=_POLL_SECONDS,
                                                     return_when="FIRST_COMPLETED").done
                    except dask.distributed.TimeoutError:
                        done = set()
                    for future in done:
                        yield from self._step_events(plan_context, active, running.pop(future), future)
                    yield from active.plan_events_iterator(plan_context)
            finally:
                for future in running:  # interrupted or failed here: stop what still runs
                    future.cancel()

    def _step_events(self, plan_context, active: ActiveExecution, step_key: str, future):
        try:
            events = future.result()
        except Exception:  # the worker died or the task could not run: the step failed
            error = serializable_error_info_from_exc_info(sys.exc_info())
            step_context = plan_context.for_step(active.get_step_by_key(step_key))
            events = [self.log_failure_or_retry_event_after_error(step_context, error, active.get_known_state())]
        for event in events:
            yield event
            active.handle_event(event)
        active.verify_complete(plan_context, step_key)

    def _cluster(self, job_name: str, stack: contextlib.ExitStack):
        """The scheduler address (``existing``) or a cluster this run starts, and closes after."""
        if self.cluster_type == "existing":
            return self.cluster_configuration["address"]
        if self.cluster_type not in _CLUSTER_CLASSES:
            raise ValueError(f"unknown dask cluster type {self.cluster_type!r}")
        module, name = _CLUSTER_CLASSES[self.cluster_type]
        return stack.enter_context(getattr(importlib.import_module(module), name)(**self.build_dict(job_name)))


@dg.executor(name="dask", requirements=dg.multiple_process_executor_requirements(),
             config_schema=_dagster_dask_executor.config_schema)
def dask_executor(init_context):
    """Run each step on a dask cluster: ``cluster: existing: address: tcp://host:8786`` for a
    running scheduler, or ``cluster: local: {n_workers: 2}`` for one started per run."""
    ((cluster_type, cluster_configuration),) = init_context.executor_config["cluster"].items()
    return DynamicDaskExecutor(cluster_type, cluster_configuration)
