"""The QA step's pod, built by dagster-k8s the way k8s_job_executor builds step pods:
the GPU limit, the A100 node selector and the toleration from the step's tags reach it."""

from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job, get_user_defined_k8s_config

from zipx_dagster.definitions import build_definitions


def test_qa_step_pod_asks_for_an_a100(tmp_path):
    defs = build_definitions(tmp_path)
    step_tags = defs.resolve_assets_def("approved_frames").op.tags
    job = construct_dagster_k8s_job(
        DagsterK8sJobConfig(job_image="zipx:cuda", dagster_home="/opt/dagster/dagster_home", instance_config_map="dagster-instance"),
        args=["dagster", "api", "execute_step"],
        job_name="zipx-qa-step",
        user_defined_k8s_config=get_user_defined_k8s_config(step_tags),
    )
    pod = job.spec.template.spec
    assert pod.node_selector == {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"}
    assert [(t.key, t.operator, t.effect) for t in pod.tolerations] == [("nvidia.com/gpu", "Exists", "NoSchedule")]
    assert pod.containers[0].resources.limits["nvidia.com/gpu"] == "1"
    assert pod.containers[0].image == "zipx:cuda"


def test_other_steps_ask_for_no_gpu(tmp_path):
    defs = build_definitions(tmp_path)
    assert "dagster-k8s/config" not in defs.resolve_assets_def("shots").op.tags
