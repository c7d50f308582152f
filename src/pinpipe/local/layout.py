"""Where the local stack keeps its running state: one git-ignored folder per checkout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pinpipe import settings as cfg


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def local_env(self) -> Path:
        return self.root / "local.env"

    @property
    def secrets_env(self) -> Path:
        return self.root / "secrets.env"

    def pid_file(self, name: str) -> Path:
        return self.run / f"{name}.pid"

    def create(self) -> None:
        for d in (self.root, self.data, self.logs, self.run, self.conf):
            d.mkdir(parents=True, exist_ok=True)
        # Other local users may not read generated credentials or data.
        self.root.chmod(0o711)


def default() -> Layout:
    return Layout(cfg.state_dir())
