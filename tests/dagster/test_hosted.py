"""The episode job with hosted models, video-first (keyframes are tests/dagster/test_keyframes.py),
against the local protocol server:
keys from the environment as dg.EnvVar and nowhere else, every shot routed to the
model that has a key, the gate's regenerations made on it too, costs and routes in
the metadata, a budget that stops the run keeping what was made, and a re-run that
submits nothing already made."""

import json

import dagster as dg
import pytest

from zipx_dagster.definitions import build_definitions
from zipx_dagster.demo import register_drama
from zipx_dagster.partitions import drama_episode_key
from zipx_dagster.resources import Generation, RenderConfig
from tests.dagster.test_review import SCRIPT
from tests.providers_server import KEYS, KLING_ACCESS, KLING_SECRET, FakeProviders, Fault

pytestmark = pytest.mark.slow


ENV = {"GEMINI_API_KEY": KEYS["veo3"], "KLING_ACCESS_KEY": KLING_ACCESS, "KLING_SECRET_KEY": KLING_SECRET,
       "ARK_API_KEY": KEYS["seedance"], "DASHSCOPE_API_KEY": KEYS["happyhorse"]}


def definitions(home, fake, budget=None):
    """All four models with keys, every one answered by the local protocol server."""
    generation = Generation(
        gemini_api_key=dg.EnvVar("GEMINI_API_KEY"), kling_access_key=dg.EnvVar("KLING_ACCESS_KEY"),
        kling_secret_key=dg.EnvVar("KLING_SECRET_KEY"), ark_api_key=dg.EnvVar("ARK_API_KEY"),
        dashscope_api_key=dg.EnvVar("DASHSCOPE_API_KEY"),
        base_urls={"veo3": f"{fake.url}/v1beta", "kling": fake.url, "seedance": fake.url, "happyhorse": fake.url},
        download_hosts={name: ["127.0.0.1"] for name in ("veo3", "kling", "seedance", "happyhorse")},
        allow_private_hosts=True, budget_episode_usd=budget, keyframe_first=False, auto_approve_stills=True,
    )
    return build_definitions(home, RenderConfig(width=160, height=90), generation=generation)


VIDEO = ("veo3", "kling", "seedance", "happyhorse")


def videos(fake) -> list:
    """The video submissions (the drama's reference stills went to an image model)."""
    return [(provider, body) for provider, body in fake.submissions if provider in VIDEO]


def test_an_episode_on_a_hosted_model_with_routes_costs_and_a_budget(tmp_path, monkeypatch):
    for variable, value in ENV.items():
        monkeypatch.setenv(variable, value)
    script = tmp_path / "lab.fountain"
    script.write_text(SCRIPT)
    key = drama_episode_key("lab", "ep01")
    with FakeProviders(width=160, height=90) as fake, dg.instance_for_test() as instance:
        register_drama(instance, script, tmp_path / "inbox")
        assert definitions(tmp_path, fake).resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key="lab").success

        # a budget of one cent: the first submission is refused, nothing is paid, the run fails saying why
        broke = definitions(tmp_path, fake, budget=0.01).resolve_job_def("episode_job")
        result = broke.execute_in_process(instance=instance, partition_key=key, raise_on_error=False)
        assert not result.success and videos(fake) == []
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert "budget for episode ep01 is $0.01" in str(failure.event_specific_data.error)

        job = definitions(tmp_path, fake).resolve_job_def("episode_job")
        assert job.execute_in_process(instance=instance, partition_key=key).success
        shots = instance.fetch_materializations(dg.AssetKey("shots"), limit=1).records[0].asset_materialization.metadata
        first_round = len(videos(fake))
        assert shots["providers"].value == shots["routes"].value  # every shot on the model the policy chose
        assert {"seedance", "veo3"} <= set(shots["providers"].value)
        assert shots["cost_usd"].value > 0 and shots["all_veo3_cost_usd"].value > shots["estimated_cost_usd"].value
        assert "veo-3.1-generate-preview" in shots["route_table"].value
        assert first_round == shots["takes"].value
        # the fake's flat grey clips fail continuity from the start: the gate stops the scene for re-planning
        gate = instance.fetch_materializations(dg.AssetKey("approved_frames"), limit=1).records[0].asset_materialization
        assert gate.metadata["failure_clusters"].value == [1]

        # a reviewer asks for another take: the gate's regeneration is made on the hosted model too
        shot = "ep01-sc001-02"
        again = {"ops": {"approved_frames": {"config": {"regenerate": {shot: "warmer light"}}}}}
        assert job.execute_in_process(instance=instance, partition_key=key, run_config=again).success
        assert len(videos(fake)) == first_round + 1
        assert "REVIEWER: warmer light" in json.dumps(videos(fake)[-1][1])

        # again: nothing is submitted twice
        assert job.execute_in_process(instance=instance, partition_key=key, run_config=again).success
        assert len(videos(fake)) == first_round + 1

        # a regeneration the model refuses is a spent attempt: the gate goes on, the shot stays in review, saying why
        fake.faults = [Fault("*", "outcome", "policy") for _ in range(3)]
        refused = {"ops": {"approved_frames": {"config": {"regenerate": {shot: "closer"}}}}}
        assert job.execute_in_process(instance=instance, partition_key=key, run_config=refused).success
        report = json.loads((tmp_path / "manifests" / "approved_frames" / "lab" / "ep01.json").read_text())["data"]
        outcome = next(o for o in report["outcomes"] if o["shot_id"] == shot)
        assert outcome["status"] == "review" and "content refused" in outcome["reason"]

        # no key or secret in any log, metadata, manifest, record or artifact
        runs = instance.get_runs()
        logs = "".join(str(e) for run in runs for e in instance.all_logs(run.run_id)) + str(shots) + str(gate.metadata)
        written = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
        for secret in ENV.values():
            assert secret not in logs, secret
            assert not any(secret.encode() in data for data in written), secret
