"""Spec → component Args, without Pulumi running."""

from pathlib import Path
from types import SimpleNamespace

import yaml

from aiinfra.core.catalog import Fabric
from aiinfra.program import (
    cluster_args,
    lake_egress,
    lake_grants,
    lake_url,
    registry_args,
    registry_pull_secrets,
    service_egress,
)
from aiinfra.spec import build_platform
from aiinfra.stack import read_team_files
from components.kubernetes.tenancy import ServiceEgress

PLATFORM = build_platform(
    {
        "tags": {"owner": "platform@example.com"},
        "clusters": [
            {
                "name": "g",
                "cloud": "gcp",
                "region": "us-central1",
                "zones": ["us-central1-a"],
                "tags": {"tier": "gold"},
                "node_pools": [
                    {"name": "tpu", "accelerator": "TPU-v5p:2x2x4"},
                    {
                        "name": "mega",
                        "accelerator": "H100:8",
                        "nodes": {"min": 1, "max": 3},
                        "capacity": {"type": "reservation", "id": "res-a3"},
                        "taints": [{"key": "team", "value": "nlp"}],
                        "labels": {"team": "nlp"},
                    },
                ],
            },
            {
                "name": "rack",
                "cloud": "onprem",
                "kubeconfig": "rackKubeconfig",
                "node_pools": [
                    {
                        "name": "ib",
                        "accelerator": "H100:8",
                        "fabric": "infiniband",
                        "nodes": {"min": 2, "max": 2},
                        "node_selector": {"rack": "r1"},
                    }
                ],
            },
        ],
    }
)


def test_pools_carry_their_catalog_shape_and_node_range():
    args = cluster_args(PLATFORM.clusters[0], PLATFORM, "prod")
    tpu, mega = args.node_pools
    assert (tpu.shape.machine_type, tpu.min_nodes, tpu.max_nodes) == ("ct5p-hightpu-4t", 4, 4)
    assert (mega.shape.fabric, mega.capacity_type, mega.reservation_id) == (Fabric.TCPXO, "reservation", "res-a3")
    assert (mega.min_nodes, mega.max_nodes, mega.labels, mega.taints[0].key) == (1, 3, {"team": "nlp"}, "team")


def test_cluster_keys_are_protected_in_prod_stacks_unless_the_cluster_says_otherwise():
    gcp = PLATFORM.clusters[0]
    assert cluster_args(gcp, PLATFORM, "prod").protect_stateful is True
    assert cluster_args(gcp, PLATFORM, "staging").protect_stateful is False
    staging = gcp.model_copy(update={"protect": True})
    assert cluster_args(staging, PLATFORM, "staging").protect_stateful is True
    assert cluster_args(gcp.model_copy(update={"protect": False}), PLATFORM, "prod").protect_stateful is False


def test_tags_layer_environment_platform_and_cluster():
    args = cluster_args(PLATFORM.clusters[0], PLATFORM, "prod")
    assert args.tags == {
        "managed-by": "aiinfra",
        "environment": "prod",
        "owner": "platform@example.com",
        "tier": "gold",
    }


def test_on_prem_kubeconfig_is_read_as_a_secret_by_key():
    read = []
    args = cluster_args(PLATFORM.clusters[1], PLATFORM, "prod", secret=lambda key: read.append(key) or "kc")
    assert read == ["rackKubeconfig"] and args.kubeconfig == "kc"
    assert args.node_pools[0].node_selector == {"rack": "r1"}


LAKES = build_platform(
    {
        "clusters": [
            {
                "name": "a",
                "cloud": "aws",
                "region": "us-east-1",
                "node_pools": [{"name": "gpu", "accelerator": "H100:8", "nodes": {"max": 2}}],
            }
        ],
        "data_lakes": [
            {"name": "s3", "cloud": "aws", "region": "us-east-1"},
            {"name": "named", "cloud": "aws", "region": "us-east-1", "bucket": "corp-ml-lake"},
            {"name": "gcs", "cloud": "gcp", "region": "us-central1"},
        ],
        "workloads": [
            {"kind": "training", "name": "pre", "team": "nlp", "cluster": "a", "pool": "gpu", "lake": "s3"},
            {
                "kind": "serving",
                "name": "chat",
                "team": "nlp",
                "cluster": "a",
                "pool": "gpu",
                "lake": "s3",
                "model": "models/pre/",
                "client_teams": ["cv"],
            },
            {"kind": "training", "name": "other", "team": "cv", "cluster": "a", "pool": "gpu", "lake": "s3"},
        ],
    },
    [
        ("stacks/teams/nlp.yaml", {"team": "nlp", "owners": ["n@x.io"], "lake_prefixes": ["datasets/nlp/"]}),
        ("stacks/teams/cv.yaml", {"team": "cv", "owners": ["c@x.io"]}),
    ],
)


def test_lake_urls_name_their_bucket():
    s3, named, gcs = LAKES.data_lakes
    assert (lake_url(s3, "prod"), lake_url(named, "prod"), lake_url(gcs, "dev")) == (
        "s3://s3-prod",
        "s3://corp-ml-lake",
        "gs://gcs-dev",
    )


def test_a_team_gets_its_prefixes_and_what_its_workloads_on_the_cluster_need():
    nlp = LAKES.teams[0]
    assert lake_grants(nlp, LAKES, LAKES.clusters[0]) == [
        ("named", "write", "datasets/nlp/"),
        ("s3", "read", "curated/"),
        ("s3", "read", "models/pre/"),
        ("s3", "read", "raw/"),
        ("s3", "write", "checkpoints/pre/"),
        ("s3", "write", "datasets/nlp/"),
        ("s3", "write", "models/pre/"),
    ]


def test_a_client_team_may_call_the_servers_that_list_it_on_that_cluster_only():
    nlp, cv = LAKES.teams
    chat = {"app.kubernetes.io/name": "aiinfra-serving", "app.kubernetes.io/instance": "chat"}
    assert service_egress(cv, LAKES, "a") == (ServiceEgress(namespace="team-nlp", pod_labels=chat, port=8000),)
    assert service_egress(cv, LAKES, "elsewhere") == ()
    assert service_egress(nlp, LAKES, "a") == ()  # its own server is in its own namespace


def test_team_namespaces_may_reach_only_the_lakes_of_their_cloud():
    platform = build_platform(
        {
            "data_lakes": [
                {"name": "a", "cloud": "aws", "region": "us-east-1", "egress_cidrs": ["52.216.0.0/15", "3.5.0.0/19"]},
                {"name": "b", "cloud": "aws", "region": "us-east-1", "egress_cidrs": ["3.5.0.0/19"]},
                {"name": "g", "cloud": "gcp", "region": "us-central1", "egress_cidrs": ["199.36.153.8/30"]},
            ]
        }
    )
    assert [(r.cidr, r.ports) for r in lake_egress(platform, "aws")] == [
        ("3.5.0.0/19", (443,)),
        ("52.216.0.0/15", (443,)),
    ]
    assert lake_egress(platform, "azure") == ()


def test_each_cloud_gets_one_registry_with_exactly_the_images_its_clusters_pull():
    stacks = Path(__file__).resolve().parents[2] / "stacks"
    raw = yaml.safe_load((stacks / "Pulumi.hybrid.yaml").read_text())["config"]["aiinfra:platform"]
    platform = build_platform(raw, read_team_files(stacks), stack="hybrid")
    clusters = {c.name: SimpleNamespace(adapter=SimpleNamespace(name=c.name)) for c in platform.clusters}
    registries = registry_args(platform, "hybrid", clusters, "/src")  # type: ignore[arg-type]  # stand-in clusters
    assert sorted(registries) == ["aws-images", "azure-images", "gcp-images", "onprem-images"]
    images = {name: [i.repository for i in args.images] for name, args in registries.items()}
    assert images["gcp-images"] == ["aiinfra-serving", "aiinfra-training", "aiinfra-training-xla"]
    assert images["aws-images"] == ["aiinfra-serving", "aiinfra-training"]
    assert {name: args.region for name, args in registries.items()} == {
        "aws-images": "us-east-1",
        "gcp-images": "us-central1",
        "azure-images": "eastus",
        "onprem-images": None,
    }
    assert registries["onprem-images"].url == "harbor.rack.example.com/aiinfra"
    assert [p.name for p in registries["gcp-images"].pullers] == ["hy-gcp"]
    assert [p.name for p in registries["azure-images"].pullers] == ["hy-azure"]
    assert all(args.protect for args in registries.values() if args.cloud != "onprem")
    assert {args.context for args in registries.values()} == {"/src"}


def test_an_azure_cluster_on_a_hub_vnet_hands_its_existing_privatelink_zones_on():
    vnet = "/subscriptions/0000/resourceGroups/hub/providers/Microsoft.Network/virtualNetworks/spoke"
    zone = "/subscriptions/0000/resourceGroups/hub/providers/Microsoft.Network/privateDnsZones/privatelink.azurecr.io"
    network = {"vpc_id": vnet, "subnet_ids": [f"{vnet}/subnets/{s}" for s in ("n", "e", "a")]}
    network["private_dns_zones"] = {"privatelink.azurecr.io": zone}
    cluster = {"name": "z", "cloud": "azure", "region": "eastus", "network": network, "node_pools": []}
    platform = build_platform({"clusters": [cluster]})
    args = cluster_args(platform.clusters[0], platform, "prod")
    assert (args.vpc_id, args.private_dns_zone_ids) == (vnet, {"privatelink.azurecr.io": zone})


def test_on_prem_clusters_running_the_built_images_pull_with_the_registrys_secret_read_once():
    stacks = Path(__file__).resolve().parents[2] / "stacks"
    raw = yaml.safe_load((stacks / "Pulumi.hybrid.yaml").read_text())["config"]["aiinfra:platform"]
    platform = build_platform(raw, read_team_files(stacks), stack="hybrid")
    read: list[str] = []
    assert registry_pull_secrets(platform, lambda key: read.append(key) or f"<{key}>") == {"hy-onprem": "<harborPull>"}
    assert read == ["harborPull"]
    raw["registries"][3].pop("pull_secret")
    assert registry_pull_secrets(build_platform(raw, read_team_files(stacks), stack="hybrid"), read.append) == {}
