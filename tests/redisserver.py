"""The Celery broker for the tests: Redis, started by the project's own scripts/broker.sh
(Debian's redis-server, which scripts/system-packages.sh installs) on a free loopback port."""

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import REPO
from tests.s3server import free_port


class RedisServer:
    def __init__(self, root: Path):
        self.root, self.port = root, free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        import redis

        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / "broker.log").open("ab")
        self.process = subprocess.Popen(["bash", str(REPO / "scripts" / "broker.sh"), str(self.port), str(self.root)],
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if redis.Redis.from_url(self.url, socket_timeout=1).ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"scripts/broker.sh did not start Redis: {(self.root / 'broker.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
