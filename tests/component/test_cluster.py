"""The neutral Cluster facade, independent of any one cloud's resources."""

from __future__ import annotations

import pytest

from aiinfra.core import catalog
from aiinfra.core.errors import InputError
from components.cluster import Cluster
from components.contracts import ADAPTERS, ClusterArgs, NodePoolArgs
from tests.conftest import of_type


def pool(name: str, accelerator: str, cloud: str = "aws", **kwargs) -> NodePoolArgs:
    return NodePoolArgs(name=name, shape=catalog.resolve(cloud, accelerator), max_nodes=2, **kwargs)


def test_a_cloud_without_an_adapter_is_refused_before_anything_is_created(run_mocked, monkeypatch):
    monkeypatch.delitem(ADAPTERS, "gcp")
    args = ClusterArgs(
        cloud="gcp", region="us-central1", kubernetes_version="1.33", node_pools=(pool("cpu", "cpu", "gcp"),)
    )
    with pytest.raises(InputError) as refused:
        run_mocked(lambda: Cluster("g", args))
    assert [p.path for p in refused.value.problems] == ["g.cloud"]
    assert "choose one of aws, azure, onprem" in str(refused.value)


def test_every_pool_becomes_a_node_pool_component_under_the_cluster(run_mocked):
    args = ClusterArgs(
        cloud="aws",
        region="us-east-1",
        zones=("us-east-1a", "us-east-1b"),
        kubernetes_version="1.33",
        node_pools=(pool("cpu", "cpu"), pool("l4", "L4:1")),
    )
    run = run_mocked(lambda: Cluster("c", args))
    cluster = next(r for r in run.resources if r.type == "aiinfra:index:Cluster")
    pools = of_type(run, "aiinfra:index:NodePool")
    assert sorted(p.name for p in pools) == ["c-cpu", "c-l4"]
    assert all(p.parent == cluster.urn for p in pools)
    provider = next(r for r in run.resources if r.type == "pulumi:providers:kubernetes")
    assert provider.parent == cluster.urn and provider.name == "c-k8s"


def test_plain_argument_problems_are_raised_together_before_anything_is_created(run_mocked):
    args = ClusterArgs(
        cloud="aws",
        region="us-east-1",
        kubernetes_version="1.33",
        vpc_id="vpc-1",
        private_dns_zone_ids={"privatelink.blob.core.windows.net": "/zones/blob"},
        node_pools=(pool("a", "cpu", min_nodes=3), pool("a", "L4:1", "gcp")),
    )
    with pytest.raises(InputError) as err:
        run_mocked(lambda: Cluster("c", args))
    assert [str(p) for p in err.value.problems] == [
        "c.node_pools: pool names repeat: ['a', 'a']",
        "c.subnet_ids: give vpc_id and subnet_ids together to use an existing network",
        "c.private_dns_zone_ids: azure only: aws clusters reach their lakes without private endpoints",
        "c.node_pools.a.min_nodes: need 0 <= min_nodes (3) <= max_nodes (2)",
        "c.node_pools.a: shape is for gcp, cluster is on aws",
    ]


STATEFUL_TYPES = {
    "aws:kms/key:Key",
    "gcp:kms/keyRing:KeyRing",
    "gcp:kms/cryptoKey:CryptoKey",
    "azure-native:keyvault:Vault",
    "azure-native:keyvault:Key",
}


@pytest.mark.parametrize(
    ("cloud", "region", "zones"),
    [
        ("aws", "us-east-1", ("us-east-1a",)),
        ("gcp", "us-central1", ("us-central1-a",)),
        ("azure", "eastus", ("1",)),
    ],
)
@pytest.mark.parametrize("protect", [True, False])
def test_keys_and_vaults_are_protected_in_production(run_mocked, cloud, region, zones, protect):
    args = ClusterArgs(
        cloud=cloud,
        region=region,
        zones=zones,
        kubernetes_version="1.33",
        node_pools=(pool("cpu", "cpu", cloud),),
        protect_stateful=protect,
    )
    run = run_mocked(lambda: Cluster("c", args))
    stateful = [r for r in run.resources if r.type in STATEFUL_TYPES]
    assert stateful and all(r.protect == protect for r in stateful)
    assert not any(r.protect for r in run.resources if r.type not in STATEFUL_TYPES and "keys" not in r.name)
