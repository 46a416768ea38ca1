"""Spec → component Args, without Pulumi running."""

from aiinfra.catalog import Fabric
from aiinfra.program import cluster_args
from aiinfra.spec import build_platform

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
