"""Launching materializations through the Dagster webserver's GraphQL API, as the UI's
Materialize button does: the assets' code location and checks, the partition's tags and
run config from the server, then `launchPipelineExecution` of the implicit asset job; and
`reportRunlessAssetEvents` for a record a person wrote (a review decision), as the UI's
"Report materialization" does."""

from __future__ import annotations

import httpx

ASSET_NODES = """query ($keys: [AssetKeyInput!]) { assetNodes(assetKeys: $keys) {
  assetKey { path } repository { name location { name } }
  assetChecksOrError { ... on AssetChecks { checks { name jobNames } } } } }"""
PARTITION = """query ($selector: PipelineSelector!, $partition: String!, $assets: [AssetKeyInput!]!) {
  pipelineOrError(params: $selector) { __typename ... on Pipeline {
    partition(partitionName: $partition, selectedAssetKeys: $assets) {
      runConfigOrError { ... on PartitionRunConfig { yaml } }
      tagsOrError { __typename ... on PartitionTags { results { key value } } ... on PythonError { message } } } } } }"""
LAUNCH = """mutation ($params: ExecutionParams!) { launchPipelineExecution(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on Error { message }
  ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } } } }"""
REPORT = """mutation ($params: ReportRunlessAssetEventsParams!) { reportRunlessAssetEvents(eventParams: $params) {
  __typename ... on ReportRunlessAssetEventsSuccess { assetKey { path } } ... on PythonError { message }
  ... on UnauthorizedError { message } } }"""
ASSET_JOB = "__ASSET_JOB"


class LaunchError(RuntimeError):
    pass


class DagsterLauncher:
    """`launch(assets, partition, tags)` -> the new run's id."""

    def __init__(self, url: str, client: httpx.Client | None = None):
        self.url = url.rstrip("/")
        self.client = client or httpx.Client(timeout=30.0)

    def _graphql(self, query: str, **variables) -> dict:
        try:
            response = self.client.post(f"{self.url}/graphql", json={"query": query, "variables": variables})
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise LaunchError(f"the Dagster webserver at {self.url} did not answer: {type(error).__name__}") from None
        body = response.json()
        if body.get("errors"):
            raise LaunchError(f"Dagster GraphQL: {body['errors'][0].get('message', body['errors'][0])}")
        return body["data"]

    def _selector(self, assets: list[str]) -> tuple[dict, list[dict], list[dict]]:
        keys = [{"path": [name]} for name in assets]
        nodes = self._graphql(ASSET_NODES, keys=keys)["assetNodes"]
        if len(nodes) != len(assets):
            raise LaunchError(f"the code location has {len(nodes)} of the assets {assets}")
        repository = nodes[0]["repository"]
        selector = {"repositoryLocationName": repository["location"]["name"], "repositoryName": repository["name"],
                    "pipelineName": ASSET_JOB}
        # the UI runs an asset's checks with it (a blocking check's asset cannot run without them)
        checks = [{"assetKey": {"path": n["assetKey"]["path"]}, "name": c["name"]}
                  for n in nodes for c in (n["assetChecksOrError"] or {}).get("checks", []) if ASSET_JOB in c["jobNames"]]
        return selector, keys, checks

    def launch(self, assets: list[str], partition: str, tags: dict[str, str]) -> str:
        selector, keys, checks = self._selector(assets)
        found = self._graphql(PARTITION, selector=selector, partition=partition, assets=keys)["pipelineOrError"]
        if found.get("__typename") != "Pipeline":
            raise LaunchError(f"no asset job in the code location: {found.get('__typename')}")
        partition_data = found["partition"]
        if partition_data["tagsOrError"]["__typename"] != "PartitionTags":
            raise LaunchError(f"partition {partition}: {partition_data['tagsOrError'].get('message', 'unknown')}")
        run_tags = partition_data["tagsOrError"]["results"] + [{"key": k, "value": v} for k, v in tags.items()]
        params = {"mode": "default", "runConfigData": (partition_data["runConfigOrError"] or {}).get("yaml") or "{}",
                  "executionMetadata": {"tags": run_tags},
                  "selector": {**selector, "assetSelection": keys, "assetCheckSelection": checks}}
        result = self._graphql(LAUNCH, params=params)["launchPipelineExecution"]
        if result["__typename"] != "LaunchRunSuccess":
            detail = result.get("message") or "; ".join(e["message"] for e in result.get("errors", []))
            raise LaunchError(f"Dagster refused the run ({result['__typename']}): {detail}")
        return result["run"]["runId"]

    def report(self, asset: str, partition: str, description: str) -> None:
        """A runless materialization of `asset` for `partition`, as the UI's "Report materialization"
        does: what a person wrote outside a run (the GraphQL form carries a description, no metadata)."""
        params = {"eventType": "ASSET_MATERIALIZATION", "assetKey": {"path": [asset]}, "partitionKeys": [partition],
                  "description": description}
        result = self._graphql(REPORT, params=params)["reportRunlessAssetEvents"]
        if result["__typename"] != "ReportRunlessAssetEventsSuccess":
            raise LaunchError(f"Dagster refused the report ({result['__typename']}): {result.get('message', '')}")

    def run_url(self, run_id: str) -> str:
        return f"{self.url}/runs/{run_id}"
