"""Helpers of the end-to-end tier: kubectl against a real cluster, and why the tier skips.

The tier needs a cluster where kind/up.sh (or an equivalent helm install) put the release;
everything goes through kubectl, as a user would: apply, annotate, port-forward, exec, logs.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict


class E2ESettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PINPIPE_", extra="ignore")

    # PINPIPE_E2E=1 opts in (make kind-test sets it).
    e2e: bool = False
    # Empty: kubectl's current context (kind/up.sh switches to kind-pinpipe).
    e2e_context: str = ""
    e2e_namespace: str = "pinpipe"
    e2e_release: str = "pinpipe"
    # Spark pods on a one-node kind cluster take minutes to schedule and start.
    e2e_timeout_s: float = 900.0


class Kubectl:
    def __init__(self, settings: E2ESettings) -> None:
        self.settings = settings
        self.base = ["kubectl"] + (["--context", settings.e2e_context] if settings.e2e_context else [])

    def run(self, *args: str, namespaced: bool = True, input_: str | None = None, timeout: float = 60) -> str:
        cmd = [*self.base, *(["-n", self.settings.e2e_namespace] if namespaced else []), *args]
        result = subprocess.run(cmd, capture_output=True, text=True, input=input_, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {result.stderr.strip()}")
        return result.stdout

    def json(self, *args: str) -> dict[str, Any]:
        return json.loads(self.run(*args, "-o", "json"))

    @contextlib.contextmanager
    def port_forward(self, target: str, remote_port: int) -> Iterator[int]:
        """`kubectl port-forward` to a free local port on 127.0.0.1; stopped on exit."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        cmd = [*self.base, "-n", self.settings.e2e_namespace, "port-forward", "--address", "127.0.0.1",
               target, f"{port}:{remote_port}"]
        process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: _listening(port) or process.poll() is not None, 30, f"port-forward to {target}")
            if process.poll() is not None:
                raise RuntimeError(f"port-forward to {target} exited: {process.stderr.read() if process.stderr else ''}")
            yield port
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(check: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 2.0) -> Any:
    """Poll `check` until it returns something truthy; that value, or TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)


def skip_reason(settings: E2ESettings) -> str | None:
    """Why this machine cannot run the tier, in words that say what to do; None when it can."""
    if not settings.e2e:
        return (
            "end-to-end tier is opt-in: it needs a kind cluster with the pinpipe release "
            "(kind/up.sh), then `make kind-test` (sets PINPIPE_E2E=1)"
        )
    if shutil.which("kubectl") is None:
        return "PINPIPE_E2E=1 but kubectl is not on PATH"
    kubectl = Kubectl(settings)
    try:
        context = settings.e2e_context or kubectl.run("config", "current-context", namespaced=False).strip()
    except RuntimeError:
        return "PINPIPE_E2E=1 but kubectl has no current context: create the cluster with kind/up.sh"
    try:
        kubectl.run("get", "--raw", "/readyz", namespaced=False, timeout=15)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return f"PINPIPE_E2E=1 but the cluster of kubectl context {context!r} does not answer: {exc}"
    release, namespace = settings.e2e_release, settings.e2e_namespace
    try:
        kubectl.run("get", "deployment", f"{release}-api", f"{release}-operator", "-o", "name")
    except RuntimeError:
        return (
            f"PINPIPE_E2E=1 but release {release!r} is not installed in namespace {namespace!r} of context "
            f"{context!r} (no deployments {release}-api, {release}-operator): run kind/up.sh"
        )
    return None
