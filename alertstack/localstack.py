"""Where the locally deployed stack lives and answers: the one object drills, faults and smoke checks share."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass
class LocalStack:
    root: Path = Path("/opt/ai-alerting")
    project: str = "ai-alerting"
    gateway_url: str = "http://127.0.0.1:8080"
    sink_url: str = "http://127.0.0.1:8099"
    prometheus_url: str = "http://127.0.0.1:9090"
    alertmanager_url: str = "http://127.0.0.1:9093"
    auth: tuple[str, str] | None = None  # basic auth for Prometheus / Alertmanager

    def __post_init__(self):
        self.root = Path(self.root)

    def container(self, service: str) -> str:
        """Container name of a Compose service (roles set container_name to <project>-<service>)."""
        return f"{self.project}-{service}"

    @property
    def release_dir(self) -> Path:
        """The gateway's release directory (mounted read-only into the gateway at /etc/inference-gateway)."""
        return self.root / "demo" / "gateway"

    @property
    def release_file(self) -> Path:
        return self.release_dir / "release.yml"

    @property
    def previous_release_file(self) -> Path:
        return self.release_dir / "release.previous.yml"

    # The files of the host the demo platform runs on: this machine here; alertstack.labstack.LabStack reads and
    # writes them on the lab's hosts over SSH (and runs their docker commands: faults._on_host).
    def read_file(self, path) -> str:
        return Path(path).read_text()

    def write_file(self, path, text: str) -> None:
        """Atomically, mode 0644: a new inode, which the gateway's directory mount sees at once."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    def move_file(self, source, target) -> None:
        os.replace(source, target)

    def file_exists(self, path) -> bool:
        return Path(path).exists()

    @property
    def state_dir(self) -> Path:
        """Controller-side state of running faults (pid of the drifted load generator)."""
        return self.root / "demo" / "state"
