"""The cost estimate from hand-made specs, with figures worked out from the catalog's list prices."""

from __future__ import annotations

import pytest

from aiinfra.core.errors import InputError
from aiinfra.cost import ONPREM_NOTE, RESERVED_NOTE, SPOT_NOTE, UNPRICED_NOTE, estimate
from aiinfra.spec import PlatformSpec, TeamSpec, build_platform

EXISTING_VPC = {"vpc_id": "vpc-0abc", "subnet_ids": ["subnet-0a"]}
"""An existing network: the cluster creates no NAT gateway or endpoints, so its only fixed cost is EKS."""


def aws(*pools: dict, network: dict | None = None, name: str = "train") -> dict:
    return {
        "name": name,
        "cloud": "aws",
        "region": "us-east-1",
        "zones": ["us-east-1a", "us-east-1b"],
        "network": EXISTING_VPC if network is None else network,
        "node_pools": list(pools),
    }


def h100(**extra) -> dict:
    return {"name": "h100", "accelerator": "H100:8", "nodes": {"min": 0, "max": 4}, **extra}


def cost_of(*clusters: dict, lakes: list[dict] | None = None, teams: list[TeamSpec] | None = None) -> dict:
    platform = build_platform({"clusters": list(clusters), "data_lakes": lakes or []})
    return estimate(platform.model_copy(update={"teams": teams or []}), "prod")


def test_one_p5_pool_costs_four_nodes_at_max_and_the_control_plane_always():
    cost = cost_of(aws(h100()))
    (cluster,) = cost["clusters"]
    assert cluster["fixed"] == [
        {
            "item": "EKS control plane",
            "usd_per_hour": 0.10,
            "source": "https://aws.amazon.com/eks/pricing/ (standard support)",
            "as_of": "2025-05",
        }
    ]
    assert cluster["pools"] == [
        {
            "name": "h100",
            "machine_type": "p5.48xlarge",
            "accelerator": "H100",
            "accelerators_per_node": 8,
            "nodes": {"min": 0, "max": 4},
            "capacity": "on-demand",
            "estimate": False,
            "usd_per_node_hour": 55.04,
            "source": "https://aws.amazon.com/ec2/pricing/on-demand/ (us-east-1, Linux)",
            "as_of": "2025-06",
            "hourly": {"min": 0.0, "max": 220.16},
            "monthly": {"min": 0.0, "max": 160716.8},
        }
    ]
    assert cluster["hourly"] == {"min": 0.10, "max": 220.26}
    assert cluster["monthly"] == {"min": 73.0, "max": 160789.8}
    assert cost["total"] == {"hourly": cluster["hourly"], "monthly": cluster["monthly"]}
    assert (cost["currency"], cost["hours_per_month"], cost["estimate"]) == ("USD", 730, False)
    assert cost["notes"] == [UNPRICED_NOTE]


def test_a_new_vpc_adds_its_nat_gateway_address_and_interface_endpoints_per_zone():
    (cluster,) = cost_of(aws(h100(), network={}))["clusters"]
    assert [(f["item"], f["usd_per_hour"]) for f in cluster["fixed"]] == [
        ("EKS control plane", 0.10),
        ("NAT gateway", 0.045),
        ("NAT gateway public IPv4 address", 0.005),
        ("interface endpoints (4 services x 2 zones)", 0.08),
    ]
    assert cluster["hourly"] == {"min": 0.23, "max": 220.39}


@pytest.mark.parametrize(
    ("capacity", "note"),
    [("spot", SPOT_NOTE), ({"type": "capacity-block", "id": "cr-0abc"}, RESERVED_NOTE)],
)
def test_spot_and_reserved_pools_are_list_price_upper_bounds_marked_estimate(capacity, note):
    team = TeamSpec(team="nlp", owners=["n@example.com"], quotas={"prod": {"H100": 8}})
    cost = cost_of(
        aws(h100(capacity=capacity), {"name": "cpu", "accelerator": "cpu", "nodes": {"min": 1, "max": 1}}),
        teams=[team],
    )
    gpu, cpu = cost["clusters"][0]["pools"]
    assert gpu["estimate"] is True and gpu["usd_per_node_hour"] == 55.04 and gpu["hourly"]["max"] == 220.16
    assert cpu["estimate"] is False
    assert cost["estimate"] is True
    assert cost["teams"][0]["estimate"] is True  # priced from the spot/reserved pool
    assert cost["notes"][0] == note


def test_on_prem_pools_are_owned_and_cost_nothing():
    rack = {
        "name": "rack",
        "cloud": "onprem",
        "kubeconfig": "rackKubeconfig",
        "node_pools": [
            h100(fabric="infiniband", nodes={"min": 4, "max": 4}, node_selector={"aiinfra.dev/rack": "r1"}),
        ],
    }
    cost = cost_of(rack)
    (cluster,) = cost["clusters"]
    (pool,) = cluster["pools"]
    assert (cluster["region"], cluster["fixed"], cluster["hourly"]) == (None, [], {"min": 0.0, "max": 0.0})
    assert (pool["capacity"], pool["machine_type"], pool["usd_per_node_hour"], pool["source"]) == (
        "owned",
        None,
        None,
        None,
    )
    assert pool["nodes"] == {"min": 4, "max": 4} and pool["monthly"] == {"min": 0.0, "max": 0.0}
    assert ONPREM_NOTE in cost["notes"]


def test_tpu_slices_are_priced_per_host_and_gke_charges_its_cluster_fee():
    gcp = {
        "name": "tpu",
        "cloud": "gcp",
        "region": "us-central1",
        "zones": ["us-central1-a"],
        "node_pools": [
            {"name": "v5p", "accelerator": "TPU-v5p:2x2x2"},
            {"name": "v6e", "accelerator": "TPU-v6e:2x2", "nodes": {"min": 0, "max": 1}},
        ],
    }
    (cluster,) = cost_of(gcp)["clusters"]
    v5p, v6e = cluster["pools"]
    # 8 chips are 2 hosts of 4 chips at $4.20 per chip-hour.
    assert (v5p["nodes"], v5p["accelerators_per_node"], v5p["usd_per_node_hour"]) == ({"min": 2, "max": 2}, 4, 16.8)
    assert v5p["hourly"] == {"min": 33.6, "max": 33.6} and v5p["machine_type"] == "ct5p-hightpu-4t"
    assert (v6e["usd_per_node_hour"], v6e["hourly"]) == (10.8, {"min": 0.0, "max": 10.8})
    assert [f["item"] for f in cluster["fixed"]] == ["GKE cluster management fee"]
    assert cluster["hourly"] == {"min": 33.7, "max": 44.5}


def test_aks_counts_its_standard_tier_nat_and_its_own_system_pool():
    azure = {
        "name": "nd",
        "cloud": "azure",
        "region": "eastus",
        "node_pools": [{"name": "ndh100", "accelerator": "H100:8", "nodes": {"min": 0, "max": 2}, "zone": "1"}],
    }
    (cluster,) = cost_of(azure)["clusters"]
    assert [(f["item"], f["usd_per_hour"]) for f in cluster["fixed"]] == [
        ("AKS Standard tier", 0.10),
        ("NAT gateway", 0.045),
        ("NAT gateway public IP address", 0.005),
    ]
    gpu, system = cluster["pools"]
    assert gpu["name"] == "ndh100" and gpu["hourly"]["max"] == 196.64
    # One node per zone (three by default), up to 6, of the catalog's Azure CPU machine.
    assert (system["name"], system["machine_type"], system["nodes"]) == (
        "system",
        "Standard_D8s_v5",
        {"min": 3, "max": 6},
    )
    assert system["hourly"] == {"min": 1.15, "max": 2.3}
    assert cluster["hourly"] == {"min": 1.3, "max": 199.09}


def test_lakes_add_their_storage_to_the_total_and_say_when_it_is_unknown():
    lakes = [
        {"name": "s3", "cloud": "aws", "region": "us-east-1", "stored_tib": 50},
        {"name": "gcs", "cloud": "gcp", "region": "us-central1"},
        {"name": "minio", "cloud": "onprem", "endpoint": "https://minio.example.com", "stored_tib": 100},
    ]
    cost = cost_of(aws(h100()), lakes=lakes)
    s3, gcs, minio = cost["lakes"]
    assert s3 == {
        "name": "s3",
        "cloud": "aws",
        "region": "us-east-1",
        "stored_tib": 50.0,
        "usd_per_gib_month": 0.023,
        "monthly": 1177.6,
        "source": "https://aws.amazon.com/s3/pricing/ (S3 Standard, us-east-1, first 50 TB)",
        "as_of": "2025-05",
    }
    assert (gcs["stored_tib"], gcs["usd_per_gib_month"], gcs["monthly"]) == (None, 0.02, 0.0)
    assert (minio["usd_per_gib_month"], minio["monthly"]) == (None, 0.0)
    assert "lake gcs: storage counted as 0; set data_lakes[1].stored_tib to estimate it" in cost["notes"]
    # $0.10 EKS + $1177.60 / 730 h of storage, at both ends.
    assert cost["total"]["hourly"] == {"min": 1.71, "max": 221.87}
    assert cost["total"]["monthly"] == {"min": 1250.6, "max": 161967.4}


def test_a_team_quota_is_priced_on_every_cluster_with_the_model_up_to_its_capacity():
    gcp = {
        "name": "mega",
        "cloud": "gcp",
        "region": "us-central1",
        "zones": ["us-central1-a"],
        "node_pools": [{"name": "a3mega", "accelerator": "H100:8", "nodes": {"min": 0, "max": 2}}],
    }
    teams = [
        TeamSpec(team="vision", owners=["v@example.com"], quotas={"prod": {"H100": 24}, "dev": {"L4": 4}}),
        TeamSpec(team="nlp", owners=["n@example.com"], quotas={"prod": {"H100": 8, "L4": 2}}),
        TeamSpec(team="speech", owners=["s@example.com"], quotas={"dev": {"L4": 1}}),
    ]
    cost = cost_of(aws(h100()), gcp, teams=teams)
    nlp, vision = cost["teams"]  # speech asks nothing of prod: not listed
    mega_per_h100 = cost["clusters"][1]["pools"][0]["usd_per_node_hour"] / 8
    # A quota caps the team on each cluster (Kueue), so 24 on train (32 there) and 16 on mega (all it has);
    # p5.48xlarge is $55.04 / 8 = $6.88 per H100-hour.
    assert vision["quotas"] == [
        {
            "accelerator": "H100",
            "count": 24,
            "clusters": [
                {"cluster": "train", "count": 24, "usd_per_accelerator_hour": 6.88},
                {"cluster": "mega", "count": 16, "usd_per_accelerator_hour": pytest.approx(mega_per_h100, abs=1e-4)},
            ],
        }
    ]
    assert vision["estimate"] is False and vision["hourly"]["min"] == 0.0
    assert vision["hourly"]["max"] == pytest.approx(24 * 6.88 + 16 * mega_per_h100, abs=0.01)
    assert vision["monthly"]["max"] == pytest.approx(vision["hourly"]["max"] * 730, abs=0.01 * 730)
    assert nlp["quotas"][1] == {"accelerator": "L4", "count": 2, "clusters": []}
    assert nlp["hourly"]["max"] == pytest.approx(8 * 6.88 + 8 * mega_per_h100, abs=0.01)
    assert "team nlp: no cluster in this stack has L4; its quota is counted as 0" in cost["notes"]
    clusters_max = sum(c["hourly"]["max"] for c in cost["clusters"])
    assert cost["total"]["hourly"]["max"] == pytest.approx(clusters_max, abs=0.01)


def test_a_cluster_with_two_pools_of_a_model_prices_team_use_at_the_dearer():
    one = {"name": "l4-one", "accelerator": "L4:1", "nodes": {"min": 0, "max": 4}}
    four = {"name": "l4-four", "accelerator": "L4:4", "nodes": {"min": 0, "max": 1}}
    team = TeamSpec(team="nlp", owners=["n@example.com"], quotas={"prod": {"L4": 6}})
    cost = cost_of(aws(one, four), teams=[team])
    g6_xlarge, g6_12xlarge = (p["usd_per_node_hour"] for p in cost["clusters"][0]["pools"])
    assert g6_12xlarge / 4 > g6_xlarge  # the two sizes differ per L4, so the choice shows
    assert cost["teams"][0]["quotas"][0]["clusters"] == [
        {"cluster": "train", "count": 6, "usd_per_accelerator_hour": pytest.approx(g6_12xlarge / 4, abs=1e-4)}
    ]


def test_a_team_on_an_on_prem_cluster_reaches_owned_accelerators_at_no_price():
    rack = {
        "name": "rack",
        "cloud": "onprem",
        "kubeconfig": "rackKubeconfig",
        "node_pools": [h100(fabric="none", nodes={"min": 4, "max": 4}, node_selector={"aiinfra.dev/rack": "r1"})],
    }
    team = TeamSpec(team="nlp", owners=["n@example.com"], quotas={"prod": {"H100": 8}})
    (entry,) = cost_of(rack, teams=[team])["teams"]
    assert entry["quotas"][0]["clusters"] == [{"cluster": "rack", "count": 8, "usd_per_accelerator_hour": None}]
    assert entry["hourly"] == {"min": 0.0, "max": 0.0}


def test_figures_are_rounded_to_cents_and_unit_prices_keep_their_precision():
    pool = {"name": "l4", "accelerator": "L4:1", "nodes": {"min": 1, "max": 3}}
    (cluster,) = cost_of(aws(pool, network={}))["clusters"]
    (l4,) = cluster["pools"]
    # g6.xlarge at $0.8048: 3 nodes are $2.4144 an hour, $1762.512 a month.
    assert l4["usd_per_node_hour"] == 0.8048
    assert l4["hourly"] == {"min": 0.8, "max": 2.41} and l4["monthly"] == {"min": 587.5, "max": 1762.51}
    # $0.045 rounds half up (a float round() would give $0.04).
    assert cluster["fixed"][1]["usd_per_hour"] == 0.045
    assert cluster["hourly"]["min"] == 1.03  # 0.8048 + 0.10 + 0.045 + 0.005 + 0.08


def test_an_empty_platform_costs_nothing():
    cost = estimate(PlatformSpec(), "prod")
    assert cost["total"] == {"hourly": {"min": 0.0, "max": 0.0}, "monthly": {"min": 0.0, "max": 0.0}}
    assert (cost["clusters"], cost["lakes"], cost["teams"], cost["notes"]) == ([], [], [], [])


def test_stored_tib_must_not_be_negative():
    with pytest.raises(InputError) as err:
        build_platform({"data_lakes": [{"name": "s3", "cloud": "aws", "region": "us-east-1", "stored_tib": -1}]})
    assert [p.path for p in err.value.problems] == ["data_lakes[0].stored_tib"]
