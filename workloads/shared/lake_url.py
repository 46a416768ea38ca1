"""Lake URLs: which store a URL names, and the fsspec storage options that reach it.

Standard library only, so command lines (`aiinfra --help`) and deploy components can use it without fsspec.

- a path or `file://`: the local disk. An endpoint does not apply.
- `s3://bucket/prefix` (s3fs): no options, so boto's chain finds the pod's identity (IRSA, EKS Pod Identity).
  With an endpoint (MinIO, Ceph, moto): `endpoint_url`.
- `gs://bucket/prefix` (gcsfs): no options, so gcsfs takes Application Default Credentials (GKE workload
  identity's metadata server). With an endpoint (fake-gcs-server): `endpoint_url` and an anonymous token.
- `https://<account>.dfs.core.windows.net/<zone>/<path>` (or `.blob.`), and adlfs's own `abfs://`, `abfss://`,
  `az://` (adlfs): no options, so adlfs takes DefaultAzureCredential (AKS workload identity: the webhook's
  AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE). With an endpoint (Azurite): a connection string
  to it with the emulator's published account key.

An ADLS lake is its account's endpoint, as the DataLake component outputs it: the first path segment is a zone,
i.e. a container (file system). `Lake.open` maps such a URL onto adlfs with `account_name` from the host.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

Store = Literal["local", "s3", "gcs", "azure"]
OBJECT_STORES: tuple[Store, ...] = ("s3", "gcs", "azure")

_SCHEMES: dict[str, Store] = {
    "": "local",
    "file": "local",
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "abfs": "azure",
    "abfss": "azure",
    "az": "azure",
}
ADLS_ACCOUNT_URL = re.compile(
    r"^https://(?P<account>[a-z0-9]{3,24})\.(?:dfs|blob)\.core\.windows\.net(?:/(?P<path>.*))?$"
)
"""An Azure storage account's endpoint, with an optional `<container>/<path>` after it."""
_ABFS_ACCOUNT_HOST = re.compile(r"^[^@/]+@(?P<account>[a-z0-9]{3,24})\.(?:dfs|blob)\.core\.windows\.net$")

GCS_EMULATOR_OPTIONS = {"retry_timeout": 0}
"""gcsfs (2026.x) asks GCS's gRPC Storage Control API for each bucket's layout (hierarchical or not) before
renames, deletes and mkdirs, retrying up to 60 s and never caching a failure. Emulators have no such API: one
try, then gcsfs falls back to the flat layout they do have."""

EMULATOR_ACCOUNT = "devstoreaccount1"
EMULATOR_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's built-in account and its published key (the same in every copy of Azurite; not a secret)."""


def store_of(url: str) -> Store | None:
    """The store a lake URL names; None for other fsspec protocols (memory://, plain http://)."""
    if ADLS_ACCOUNT_URL.match(url):
        return "azure"
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return _SCHEMES.get(scheme)


def adls_account_path(url: str) -> tuple[str, str] | None:
    """`(account, "<container>/<path>")` of an account-level ADLS URL, None for any other URL:
    `https://acct.dfs.core.windows.net/checkpoints/run-1` → `("acct", "checkpoints/run-1")`."""
    match = ADLS_ACCOUNT_URL.match(url)
    if not match:
        return None
    return match["account"], (match["path"] or "").strip("/")


def storage_options(url: str, endpoint_url: str | None = None) -> dict[str, Any]:
    """The fsspec storage options of a lake URL: none where the pod's identity reaches the store (the client
    libraries' default credential chains), and what points the client at `endpoint_url` where one is given.
    Raises ValueError with `endpoint_problem` when the endpoint does not apply to the URL's store."""
    problem = endpoint_problem(url, endpoint_url)
    if problem:
        raise ValueError(problem)
    if not endpoint_url:
        return {}
    store = store_of(url)
    if store == "s3":
        return {"endpoint_url": endpoint_url}
    if store == "gcs":
        return {"endpoint_url": endpoint_url, "token": "anon", **GCS_EMULATOR_OPTIONS}
    return {"connection_string": emulator_connection_string(endpoint_url, _azure_account(url))}


def endpoint_problem(url: str, endpoint_url: str | None) -> str | None:
    """Why `endpoint_url` cannot serve the lake at `url` (a local path, an unknown protocol); None if it can."""
    if endpoint_url and store_of(url) not in OBJECT_STORES:
        return f"applies to s3://, gs:// and ADLS lakes only, not to {url!r}"
    return None


def emulator_connection_string(endpoint_url: str, account: str = EMULATOR_ACCOUNT) -> str:
    """A connection string to an Azure Blob emulator: `endpoint_url` is the service (`http://127.0.0.1:10000`,
    the account appended as Azurite's path-style URLs expect) or already the account's blob endpoint."""
    blob_endpoint = endpoint_url.rstrip("/")
    if urlsplit(blob_endpoint).path in ("", "/"):
        blob_endpoint = f"{blob_endpoint}/{account}"
    protocol = urlsplit(blob_endpoint).scheme or "http"
    return (
        f"DefaultEndpointsProtocol={protocol};AccountName={account};AccountKey={EMULATOR_ACCOUNT_KEY};"
        f"BlobEndpoint={blob_endpoint};"
    )


def _azure_account(url: str) -> str:
    """The account an ADLS URL names (the host of `https://acct.dfs…` or `abfs://container@acct.dfs…`);
    the emulator's own account for `abfs://container/path` and `az://container/path`."""
    adls = adls_account_path(url)
    if adls:
        return adls[0]
    match = _ABFS_ACCOUNT_HOST.match(urlsplit(url).netloc)
    return match["account"] if match else EMULATOR_ACCOUNT
