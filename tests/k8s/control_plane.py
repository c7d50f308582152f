"""A real Kubernetes control plane without nodes, for the "k8s api" test tier.

etcd, kube-apiserver and kube-controller-manager (only its garbage-collector and namespace
controllers: what makes ownerReferences and namespace deletion work) run as local processes
on 127.0.0.1. The binaries are built from source through the Go module proxy at pinned
versions and cached in the user cache, keyed by version: only the first run pays the build.

    python tests/k8s/control_plane.py build   # build or verify the cached binaries
    python tests/k8s/control_plane.py up      # start one and print its kubeconfig (Ctrl-C stops it)
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import fcntl
import ipaddress
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pinpipe.settings import cache_dir

# Must equal the k8s.io/kubernetes requirement in apiserver/go.mod (checked before a build).
KUBERNETES_VERSION = "v1.35.4"
# The etcd release Kubernetes 1.35 is built and tested with; must equal etcd/go.mod's.
ETCD_VERSION = "v3.6.5"
KUBE_MODULE_DIR = Path(__file__).resolve().parent / "apiserver"
ETCD_MODULE_DIR = Path(__file__).resolve().parent / "etcd"
KUBE_BINARIES = ("kube-apiserver", "kube-controller-manager")

Progress = Callable[[str], None]


def _print_progress(message: str) -> None:
    print(f"[control-plane] {message}", file=sys.stderr, flush=True)


class ControlPlaneError(RuntimeError):
    """The control plane could not be built or started; the message says why."""


# --- building ------------------------------------------------------------------------


def go_cache() -> Path:
    return cache_dir() / "go"


def _go() -> str:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if found is None:
        raise ControlPlaneError(
            "Go is not installed: the k8s tier builds etcd and kube-apiserver from source (Go >= 1.25)."
        )
    return found


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GOMODCACHE=str(go_cache() / "mod"), CGO_ENABLED="0", GOFLAGS="-mod=readonly -buildvcs=false")
    return env


def _check_go_version(go: str) -> None:
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()
    match = re.match(r"go(\d+)\.(\d+)", out)
    if not match or (int(match[1]), int(match[2])) < (1, 25):
        raise ControlPlaneError(f"Go {out} is too old: Kubernetes {KUBERNETES_VERSION} needs Go >= 1.25.")


def _pinned_version(module_dir: Path, module: str) -> str:
    go_mod = module_dir / "go.mod"
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)} (v\S+)\s*$", go_mod.read_text(), re.M)
    if not match:
        raise ControlPlaneError(f"{go_mod} does not require {module}")
    return match[1]


def _reports_version(binary: Path, expected: str) -> bool:
    if not binary.is_file():
        return False
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return expected in out


@contextlib.contextmanager
def _build_lock(name: str) -> Iterator[None]:
    """Two test sessions (or clones) sharing the cache build one binary once."""
    lock_dir = go_cache() / "bin"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_build(cmd: list[str], cwd: Path, env: dict[str, str], what: str, progress: Progress) -> None:
    progress(f"building {what} (first run only; can take 30 minutes on 2 busy cores): {shlex.join(cmd)}")
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        raise ControlPlaneError(f"building {what} failed (exit {result.returncode}):\n{tail}")
    progress(f"built {what} in {time.monotonic() - started:.0f}s")


def kube_binaries(progress: Progress = _print_progress) -> dict[str, Path]:
    """kube-apiserver and kube-controller-manager at KUBERNETES_VERSION, built once."""
    target = go_cache() / "bin" / f"kubernetes-{KUBERNETES_VERSION}"
    binaries = {name: target / name for name in KUBE_BINARIES}
    expected = f"Kubernetes {KUBERNETES_VERSION}"
    if all(_reports_version(path, expected) for path in binaries.values()):
        return binaries
    pinned = _pinned_version(KUBE_MODULE_DIR, "k8s.io/kubernetes")
    if pinned != KUBERNETES_VERSION:
        raise ControlPlaneError(
            f"apiserver/go.mod pins k8s.io/kubernetes {pinned} but KUBERNETES_VERSION is {KUBERNETES_VERSION}"
        )
    with _build_lock(f"kubernetes-{KUBERNETES_VERSION}"):
        if all(_reports_version(path, expected) for path in binaries.values()):
            return binaries
        go = _go()
        _check_go_version(go)
        minor = KUBERNETES_VERSION.split(".")[1]
        pkg = "k8s.io/component-base/version"
        ldflags = " ".join(
            [
                "-s -w",
                f"-X {pkg}.gitVersion={KUBERNETES_VERSION}",
                f"-X {pkg}.gitMajor=1",
                f"-X {pkg}.gitMinor={minor}",
                f"-X {pkg}.gitTreeState=clean",
                f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
            ]
        )
        staging = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
        try:
            cmd = [go, "build", "-p", "2", "-trimpath", "-ldflags", ldflags, "-o", f"{staging}/", "./cmd/..."]
            _run_build(cmd, KUBE_MODULE_DIR, _go_env(), f"Kubernetes {KUBERNETES_VERSION}", progress)
            for path in binaries.values():
                if not _reports_version(staging / path.name, expected):
                    raise ControlPlaneError(f"the freshly built {path.name} does not report {expected}")
            if target.exists():
                shutil.rmtree(target)
            staging.chmod(0o755)  # mkdtemp made it private to this user
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return binaries


def etcd_binary(progress: Progress = _print_progress) -> Path:
    """etcd at ETCD_VERSION, built once."""
    target = go_cache() / "bin" / f"etcd-{ETCD_VERSION}" / "etcd"
    expected = f"etcd Version: {ETCD_VERSION.removeprefix('v')}"
    if _reports_version(target, expected):
        return target
    pinned = _pinned_version(ETCD_MODULE_DIR, "go.etcd.io/etcd/server/v3")
    if pinned != ETCD_VERSION:
        raise ControlPlaneError(
            f"etcd/go.mod pins go.etcd.io/etcd/server/v3 {pinned} but ETCD_VERSION is {ETCD_VERSION}"
        )
    with _build_lock(f"etcd-{ETCD_VERSION}"):
        if _reports_version(target, expected):
            return target
        go = _go()
        _check_go_version(go)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".etcd-{os.getpid()}")
        try:
            cmd = [go, "build", "-p", "2", "-trimpath", "-ldflags", "-s -w", "-o", str(staging), "."]
            _run_build(cmd, ETCD_MODULE_DIR, _go_env(), f"etcd {ETCD_VERSION}", progress)
            if not _reports_version(staging, expected):
                raise ControlPlaneError(f"the freshly built etcd does not report {expected}")
            staging.rename(target)
        finally:
            staging.unlink(missing_ok=True)
    return target


# --- credentials ---------------------------------------------------------------------


def _write_pki(directory: Path) -> dict[str, Path]:
    """A CA, the apiserver's serving certificate, and the service-account signing key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pinpipe-test-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(n) for n in ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")]
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName([*names, x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    sa_key = ec.generate_private_key(ec.SECP256R1())
    files = {
        "ca": directory / "ca.crt",
        "server_cert": directory / "apiserver.crt",
        "server_key": directory / "apiserver.key",
        "sa_key": directory / "sa.key",
        "sa_pub": directory / "sa.pub",
    }
    files["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files["server_cert"].write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    files["server_key"].write_bytes(key_pem(server_key))
    files["sa_key"].write_bytes(key_pem(sa_key))
    files["sa_pub"].write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for path in files.values():
        path.chmod(0o600)
    return files


def write_kubeconfig(path: Path, server: str, ca_file: Path, user: str, token: str, namespace: str = "default") -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "pinpipe-test", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "pinpipe-test", "user": user, "namespace": namespace}}],
        "current-context": user,
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


# --- processes -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    # A test run killed with SIGKILL never reaches its finalizers; the kernel then stops the servers.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace_s: float = 10.0) -> None:
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(grace_s)


def _spawn(name: str, args: list[str], logs: Path) -> Process:
    log = logs / f"{name}.log"
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    return Process(name, popen, log)


def _wait_until(check: Callable[[], bool], process: Process, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise ControlPlaneError(
                f"{process.name} exited ({process.popen.returncode}) before {what}:\n{process.tail()}"
            )
        if check():
            return
        time.sleep(0.2)
    raise ControlPlaneError(f"{process.name} not {what} after {timeout_s:.0f}s:\n{process.tail()}")


@dataclass
class ControlPlane:
    workdir: Path
    server: str
    ca_file: Path
    admin_token: str
    admin_kubeconfig: Path
    processes: list[Process] = field(default_factory=list)

    def get(self, path: str, token: str | None = None) -> tuple[int, str]:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        request = urllib.request.Request(
            self.server + path, headers={"Authorization": f"Bearer {token or self.admin_token}"}
        )
        try:
            with urllib.request.urlopen(request, context=context, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except (urllib.error.URLError, OSError) as exc:
            return 0, str(exc)

    def kubeconfig(self, path: Path, user: str, token: str, namespace: str = "default") -> Path:
        return write_kubeconfig(path, self.server, self.ca_file, user, token, namespace)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()

    def logs(self, name: str) -> str:
        return next((p.log.read_text(errors="replace") for p in self.processes if p.name == name), "")


def start(
    workdir: Path, crds: Sequence[Path] = (), progress: Progress = _print_progress, timeout_s: float = 90.0
) -> ControlPlane:
    """Start etcd, kube-apiserver and kube-controller-manager under `workdir`; stop() ends them.

    `crds` are installed before the controllers start, so that the garbage collector and
    the namespace controller know their resources from the beginning.
    """
    binaries = kube_binaries(progress)
    etcd = etcd_binary(progress)
    workdir.mkdir(parents=True, exist_ok=True)
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    pki = _write_pki(workdir / "pki")
    admin_token = secrets.token_urlsafe(32)
    token_file = workdir / "pki" / "tokens.csv"
    token_file.write_text(f"{admin_token},pinpipe-admin,pinpipe-admin,system:masters\n")
    token_file.chmod(0o600)

    plane = ControlPlane(
        workdir=workdir,
        server="",
        ca_file=pki["ca"],
        admin_token=admin_token,
        admin_kubeconfig=workdir / "admin.kubeconfig",
    )
    try:
        client_port, peer_port = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{client_port}"
        progress(f"starting etcd {ETCD_VERSION} on {etcd_url}")
        started = time.monotonic()
        etcd_process = _spawn(
            "etcd",
            [
                str(etcd),
                "--name=default",
                f"--data-dir={workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
                # Test data is thrown away with the directory; fsync only costs time.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            logs,
        )
        plane.processes.append(etcd_process)

        def etcd_healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{etcd_url}/health", timeout=2) as response:
                    return json.loads(response.read()).get("health") == "true"
            except (OSError, ValueError):
                return False

        _wait_until(etcd_healthy, etcd_process, "healthy", timeout_s)

        port = free_port()
        plane.server = f"https://127.0.0.1:{port}"
        progress(f"starting kube-apiserver {KUBERNETES_VERSION} on {plane.server}")
        apiserver = _spawn(
            "kube-apiserver",
            [
                str(binaries["kube-apiserver"]),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={workdir / 'pki'}",
                f"--tls-cert-file={pki['server_cert']}",
                f"--tls-private-key-file={pki['server_key']}",
                f"--token-auth-file={token_file}",
                "--anonymous-auth=false",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki['sa_pub']}",
                f"--service-account-signing-key-file={pki['sa_key']}",
                "--service-cluster-ip-range=10.96.0.0/24",
                # Makes blockOwnerDeletion need update on <owner>/finalizers, as most clusters do.
                "--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                "--v=1",
            ],
            logs,
        )
        plane.processes.append(apiserver)
        _wait_until(lambda: plane.get("/readyz")[0] == 200, apiserver, "ready", timeout_s)
        progress(f"kube-apiserver ready after {time.monotonic() - started:.1f}s")
        write_kubeconfig(plane.admin_kubeconfig, plane.server, plane.ca_file, "pinpipe-admin", admin_token)
        install_crds(plane, crds, timeout_s)

        manager = _spawn(
            "kube-controller-manager",
            [
                str(binaries["kube-controller-manager"]),
                f"--kubeconfig={plane.admin_kubeconfig}",
                f"--authentication-kubeconfig={plane.admin_kubeconfig}",
                f"--authorization-kubeconfig={plane.admin_kubeconfig}",
                "--controllers=garbage-collector-controller,namespace-controller",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                f"--cert-dir={workdir / 'pki' / 'controller-manager'}",
                "--v=1",
            ],
            logs,
        )
        plane.processes.append(manager)
        _wait_until(
            lambda: "Proceeding to collect garbage" in manager.tail(400), manager, "collecting garbage", timeout_s
        )
        progress(f"control plane ready in {time.monotonic() - started:.1f}s (logs in {logs})")
    except BaseException:
        plane.stop()
        raise
    return plane


def install_crds(plane: ControlPlane, paths: Sequence[Path], timeout_s: float = 60.0) -> None:
    """Create the CustomResourceDefinitions and wait until they are served."""
    import kubernetes
    from kubernetes.client.exceptions import ApiException

    client = new_client(plane.admin_kubeconfig)
    api = kubernetes.client.ApiextensionsV1Api(client)
    try:
        names = []
        for path in paths:
            for body in yaml.safe_load_all(path.read_text()):
                try:
                    api.create_custom_resource_definition(body)
                except ApiException as exc:
                    if exc.status != 409:
                        raise ControlPlaneError(f"installing {path} failed: {exc.body}") from None
                names.append(body["metadata"]["name"])
        deadline = time.monotonic() + timeout_s
        for name in names:
            while True:
                conditions = api.read_custom_resource_definition(name).status.conditions or []
                if any(c.type == "Established" and c.status == "True" for c in conditions):
                    break
                if time.monotonic() > deadline:
                    raise ControlPlaneError(f"CRD {name} not established after {timeout_s:.0f}s")
                time.sleep(0.1)
    finally:
        client.close()


def token_for(plane: ControlPlane, namespace: str, service_account: str, seconds: int = 3600) -> str:
    """A real ServiceAccount token from the TokenRequest API."""
    import kubernetes

    api = kubernetes.client.CoreV1Api(new_client(plane.admin_kubeconfig))
    request = kubernetes.client.AuthenticationV1TokenRequest(
        spec=kubernetes.client.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds)
    )
    return api.create_namespaced_service_account_token(service_account, namespace, request).status.token


def new_client(kubeconfig: Path):  # -> kubernetes.client.ApiClient
    import kubernetes

    return kubernetes.config.new_client_from_config(config_file=str(kubeconfig))


def _main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "build"
    if command == "build":
        for name, path in {**kube_binaries(), "etcd": etcd_binary()}.items():
            print(f"{name}: {path}")
        return 0
    if command == "up":
        plane = start(Path(tempfile.mkdtemp(prefix="pinpipe-k8s-")))
        print(f"export KUBECONFIG={plane.admin_kubeconfig}")
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            plane.stop()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
