"""Which store a lake URL reaches and with which options: the URL conventions pods get, offline.

The round trips through each store's emulator are in test_training.py and test_serving.py (`remote_lake`)."""

from __future__ import annotations

import pytest
from adlfs import AzureBlobFileSystem
from azure.identity.aio import DefaultAzureCredential, WorkloadIdentityCredential
from fsspec.core import url_to_fs

from workloads.shared.lake import Lake
from workloads.shared.lake_url import (
    EMULATOR_ACCOUNT_KEY,
    adls_account_path,
    emulator_connection_string,
    storage_options,
    store_of,
)


@pytest.fixture(autouse=True)
def fresh_filesystems():
    """fsspec reuses a filesystem made with the same options; each test here must see its own environment."""
    AzureBlobFileSystem.clear_instance_cache()
    yield
    AzureBlobFileSystem.clear_instance_cache()


@pytest.fixture
def aks_workload_identity(monkeypatch, tmp_path):
    """The environment AKS's workload identity webhook gives a pod, and nothing else Azure."""
    token = tmp_path / "azure-identity-token"
    token.write_text("a-projected-service-account-token")
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AZURE_STORAGE_CLIENT_ID", "AZURE_STORAGE_ANON", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-0000000000c1")
    monkeypatch.setenv("AZURE_TENANT_ID", "00000000-0000-0000-0000-00000000007e")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token))
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/")


@pytest.mark.parametrize(
    ("url", "store"),
    [
        ("/data/lake", "local"),
        ("file:///data/lake", "local"),
        ("s3://lake-aws/", "s3"),
        ("gs://lake-gcp/", "gcs"),
        ("https://lakeacct.dfs.core.windows.net/", "azure"),
        ("https://lakeacct.blob.core.windows.net/models/run-1", "azure"),
        ("abfs://checkpoints@lakeacct.dfs.core.windows.net/run-1", "azure"),
        ("az://checkpoints/run-1", "azure"),
        ("https://example.com/lake/", None),
        ("memory://lake", None),
    ],
)
def test_the_store_of_a_lake_url(url, store):
    assert store_of(url) == store


def test_an_adls_account_url_is_a_container_then_a_path():
    assert adls_account_path("https://lakeacct.dfs.core.windows.net/checkpoints/run-1/step-10/") == (
        "lakeacct",
        "checkpoints/run-1/step-10",
    )
    assert adls_account_path("https://lakeacct.blob.core.windows.net/models") == ("lakeacct", "models")
    assert adls_account_path("https://lakeacct.dfs.core.windows.net/") == ("lakeacct", "")
    assert adls_account_path("https://lakeacct.dfs.core.windows.net") == ("lakeacct", "")
    assert adls_account_path("abfs://checkpoints@lakeacct.dfs.core.windows.net/run-1") is None
    assert adls_account_path("https://lakeacct.dfs.core.windows.net.example.com/x") is None


def test_the_lake_pods_get_opens_adlfs_on_the_account_with_zones_as_containers(aks_workload_identity):
    lake = Lake.open("https://lakeacct.dfs.core.windows.net/")
    assert isinstance(lake.fs, AzureBlobFileSystem)
    assert lake.fs.account_name == "lakeacct"
    assert lake.fs.account_url == "https://lakeacct.blob.core.windows.net"
    checkpoints = lake.child("checkpoints", "run-1")
    assert checkpoints.path("step-10", ".metadata") == "checkpoints/run-1/step-10/.metadata"
    assert lake.fs.split_path(checkpoints.path("step-10", ".metadata"))[:2] == (
        "checkpoints",
        "run-1/step-10/.metadata",
    )
    # DCP's fsspec reader and writer reopen the lake from a URL and the lake's storage options:
    fs, path = url_to_fs(checkpoints.url("step-10"), **checkpoints.storage_options)
    assert isinstance(fs, AzureBlobFileSystem) and fs.account_name == "lakeacct"
    assert path == "checkpoints/run-1/step-10"

    export = Lake.open("https://lakeacct.blob.core.windows.net/models/run-1")
    assert isinstance(export.fs, AzureBlobFileSystem)
    assert (export.fs.account_name, export.root) == ("lakeacct", "models/run-1")


def test_without_options_adls_authenticates_as_the_pods_workload_identity(aks_workload_identity):
    fs = Lake.open("https://lakeacct.dfs.core.windows.net/models/run-1").fs
    assert isinstance(fs, AzureBlobFileSystem)
    assert fs.anon is False and fs.account_key is None and fs.sas_token is None and fs.connection_string is None
    assert isinstance(fs.credential, DefaultAzureCredential)
    chain = [type(credential) for credential in fs.credential.credentials]
    assert WorkloadIdentityCredential in chain  # reads the webhook's AZURE_CLIENT_ID, _TENANT_ID, _FEDERATED_TOKEN_FILE


def test_without_an_endpoint_no_lake_gets_options():
    for url in ("/data/lake", "s3://lake-aws/", "gs://lake-gcp/", "https://lakeacct.dfs.core.windows.net/"):
        assert storage_options(url) == {}


def test_an_endpoint_points_each_store_at_its_emulator():
    endpoint = "http://127.0.0.1:10000"
    assert storage_options("s3://lake/", endpoint) == {"endpoint_url": endpoint}
    gcs = storage_options("gs://lake/", endpoint)
    assert gcs["endpoint_url"] == endpoint and gcs["token"] == "anon"
    expected = emulator_connection_string(endpoint, "devstoreaccount1")
    assert storage_options("https://devstoreaccount1.dfs.core.windows.net/", endpoint) == {
        "connection_string": expected
    }
    assert expected == (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={EMULATOR_ACCOUNT_KEY};"
        "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    )
    # the account comes from the URL where it names one; an endpoint with a path is the account's own
    assert (
        "AccountName=other;"
        in storage_options("abfs://models@other.dfs.core.windows.net/", endpoint)["connection_string"]
    )
    assert "AccountName=devstoreaccount1;" in storage_options("az://models/run-1", endpoint)["connection_string"]
    assert "BlobEndpoint=http://azurite:10000/acct;" in emulator_connection_string("http://azurite:10000/acct/", "x")


def test_an_endpoint_for_a_local_lake_is_refused():
    with pytest.raises(ValueError, match="applies to s3://, gs:// and ADLS lakes only"):
        storage_options("/data/lake", "http://127.0.0.1:9000")
