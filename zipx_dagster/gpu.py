"""What pins CLIP QA to a GPU: on Kubernetes, the step's `dagster-k8s/config` tag, read
by dagster-k8s's k8s_job_executor when it builds the step's pod (an A100); with Celery,
its `dagster-celery/queue` tag, which sends the step to the `gpu` queue that only GPU
workers consume (scripts/worker.sh gpu). Values come from the environment of the code
location, so a cluster can name its own node pool."""

import os

QA_POOL = "gpu"
QA_QUEUE = "gpu"


def qa_op_tags() -> dict:
    """The QA step's tags: its pod's GPU on Kubernetes, its queue on Celery."""
    return {"dagster-k8s/config": qa_k8s_config(), "dagster-celery/queue": QA_QUEUE}


def qa_k8s_config() -> dict:
    return {
        "container_config": {
            "resources": {
                "limits": {"nvidia.com/gpu": os.environ.get("ZIPX_QA_GPUS", "1"), "memory": "24Gi"},
                "requests": {"cpu": "4", "memory": "16Gi"},
            }
        },
        "pod_spec_config": {
            "node_selector": {
                os.environ.get("ZIPX_QA_NODE_LABEL", "cloud.google.com/gke-accelerator"): os.environ.get(
                    "ZIPX_QA_NODE_VALUE", "nvidia-tesla-a100"
                )
            },
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        },
    }
