"""The two jobs, and the executor their steps run on (ZIPX_EXECUTOR).

- unset: Dagster's default (a process per step on this machine; `make demo` runs in-process);
- `in_process`, `multiprocess`: the same on one machine, chosen explicitly;
- `celery`: dagster-celery over the broker at ZIPX_CELERY_BROKER (e.g. redis://host:6379/0,
  also the result backend): each step is a task that any worker listening on its queue
  takes, on any machine. Steps go to the `dagster` queue; the QA step's
  `dagster-celery/queue` tag sends it to `gpu`, which only GPU workers consume
  (`scripts/worker.sh gpu`);
- `k8s`: dagster-k8s's k8s_job_executor, one pod per step, the QA step's pod on the A100
  pool through its `dagster-k8s/config` tag (the Helm deployment, deploy/helm/values.yaml).

Every step reads its inputs from, and writes its outputs to, the artifact store and the
Dagster instance (Postgres in production), so it can run on any machine.
"""

import os

import dagster as dg

# A run has one partition key, so per-drama and per-episode assets run as two jobs
# (their partitioning is inferred from the selected assets).
drama_job = dg.define_asset_job(
    "drama_job",
    selection=dg.AssetSelection.groups("script", "bibles"),
    description="Parse a drama's script, extract its bibles and lock its reference stills.",
)
episode_job = dg.define_asset_job(
    "episode_job",
    selection=dg.AssetSelection.groups("episodes"),
    description="Plan, voice, generate, gate and assemble one episode.",
)

EXECUTORS = ("in_process", "multiprocess", "celery", "k8s")


def _celery_executor() -> dg.ExecutorDefinition:
    from dagster_celery import celery_executor

    broker = {"env": "ZIPX_CELERY_BROKER"}  # the variable's name, never its value (a URL may hold a password)
    return celery_executor.configured({"broker": broker, "backend": broker}, name="celery")


# Every step's pod, unless its own `dagster-k8s/config` tag says more (the QA step's GPU).
STEP_POD = {"container_config": {"resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "8Gi"}}}}


def _k8s_executor() -> dg.ExecutorDefinition:
    from dagster_k8s import k8s_job_executor  # in the production image (deploy/Dockerfile)

    # image, namespace, env and secrets come from the run launcher and the code location
    return k8s_job_executor.configured({"step_k8s_config": STEP_POD, "max_concurrent": 8, "enable_owner_references": True},
                                       name="k8s")


def executor_from_env() -> dg.ExecutorDefinition | None:
    """The executor ZIPX_EXECUTOR names; None (Dagster's default) when unset."""
    kind = os.environ.get("ZIPX_EXECUTOR", "")
    if not kind:
        return None
    if kind not in EXECUTORS:
        raise ValueError(f"ZIPX_EXECUTOR={kind!r}: one of {', '.join(EXECUTORS)} (or unset)")
    return {"in_process": lambda: dg.in_process_executor, "multiprocess": lambda: dg.multiprocess_executor,
            "celery": _celery_executor, "k8s": _k8s_executor}[kind]()
