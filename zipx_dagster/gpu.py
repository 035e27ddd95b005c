"""What pins CLIP QA to an A100 on Kubernetes: the step's `dagster-k8s/config` tag, read
by dagster-k8s's k8s_job_executor when it builds the step's pod. Values come from the
environment of the code location, so a cluster can name its own node pool."""

import os

QA_POOL = "gpu"


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
