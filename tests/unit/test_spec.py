import copy

import pytest
import yaml

from aiinfra.cli import main
from aiinfra.core.errors import InputError
from aiinfra.spec import build_platform, declared_capacity, json_schema

GOOD = {
    "clusters": [
        {
            "name": "a",
            "cloud": "aws",
            "region": "us-east-1",
            "zones": ["us-east-1a", "us-east-1b"],
            "node_pools": [{"name": "gpu", "accelerator": "H100:8", "nodes": {"min": 0, "max": 2}}],
        }
    ],
}


HUB_ZONES = "/subscriptions/0000/resourceGroups/hub/providers/Microsoft.Network/privateDnsZones"
HUB_BLOB_ZONE = f"{HUB_ZONES}/privatelink.blob.core.windows.net"


def on_hub(zones: dict) -> dict:
    """The first cluster on an existing VNet whose privatelink zones already exist."""
    return with_cluster(network={"vpc_id": "v", "subnet_ids": ["s"], "private_dns_zones": zones})


def problems(raw, teams=None, **context) -> list[str]:
    with pytest.raises(InputError) as err:
        build_platform(raw, teams, **context)
    return [str(p) for p in err.value.problems]


def with_pool(**pool) -> dict:
    raw = copy.deepcopy(GOOD)
    raw["clusters"][0]["node_pools"][0].update(pool)
    return raw


def with_cluster(**cluster) -> dict:
    raw = copy.deepcopy(GOOD)
    raw["clusters"][0].update(cluster)
    return raw


def test_a_good_spec_parses_with_defaults():
    spec = build_platform(GOOD)
    pool = spec.clusters[0].node_pools[0]
    assert (pool.fabric.value, pool.local_nvme, pool.capacity.type) == ("auto", "auto", "on-demand")
    assert spec.clusters[0].kubernetes_version == "1.34"


def test_capacity_accepts_a_string_or_a_mapping():
    assert build_platform(with_pool(capacity="spot")).clusters[0].node_pools[0].capacity.type == "spot"
    reserved = build_platform(with_pool(capacity={"type": "reservation", "id": "cr-0123"}))
    assert reserved.clusters[0].node_pools[0].capacity.id == "cr-0123"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, "aiinfra:platform: missing from the stack config"),
        ([], "aiinfra:platform: list — must be a mapping"),
        (
            with_pool(accelerator="H100:9"),
            "clusters[0].node_pools[0].accelerator: 'H100:9' — H100 comes 1 or 8 per node on aws "
            "(p5.4xlarge: 1, p5.48xlarge: 8)",
        ),
        (with_pool(accelerator="TPU-v5p:2x2x2"), "clusters[0].node_pools[0].accelerator: 'TPU-v5p:2x2x2' — TPUs exist"),
        (with_pool(fabric="tcpxo"), "clusters[0].node_pools[0].fabric: 'tcpxo' — tcpxo exists only on gcp"),
        (with_pool(fabric="ethernet"), "clusters[0].node_pools[0].fabric: 'ethernet' — Input should be 'auto'"),
        (with_pool(fabirc="efa"), "clusters[0].node_pools[0].fabirc: unknown field; did you mean 'fabric'?"),
        (with_pool(nodes={"min": 3, "max": 2}), "clusters[0].node_pools[0].nodes: min 3 is above max 2"),
        (with_pool(nodes={"min": 0}), "clusters[0].node_pools[0].nodes.max: required; add it"),
        (with_pool(nodes=None), "clusters[0].node_pools[0].nodes: required for non-TPU pools"),
        (
            with_pool(capacity="reservation"),
            "clusters[0].node_pools[0].capacity: 'reservation' — capacity reservation needs the reservation id",
        ),
        (with_pool(capacity={"type": "spot", "id": "cr-1"}), "capacity spot takes no id"),
        (with_pool(name="GPU"), "clusters[0].node_pools[0].name: 'GPU' — must be a lower-case DNS label"),
        (with_pool(zone="us-east-1f"), "clusters[0].node_pools[0].zone: 'us-east-1f' — not one of the cluster's"),
        (with_pool(node_selector={"a": "b"}), "clusters[0].node_pools[0].node_selector: only for on-prem pools"),
        (with_pool(local_nvme="raid5"), "clusters[0].node_pools[0].local_nvme: 'raid5'"),
        (with_cluster(cloud="oracle"), "clusters[0].cloud: 'oracle' — Input should be 'aws', 'gcp', 'azure'"),
        (with_cluster(region=None), "clusters[0].region: required for aws clusters"),
        (with_cluster(kubernetes_version="1.20"), "clusters[0].kubernetes_version: '1.20' — supported: 1.31"),
        (with_cluster(kubernetes_version="v1"), "clusters[0].kubernetes_version: 'v1' — String should match"),
        (with_cluster(kubeconfig="k"), "clusters[0].kubeconfig: only for on-prem clusters"),
        (with_cluster(network={"cidr": "10.0.0.0/24"}), "clusters[0].network.cidr: '10.0.0.0/24' — 10.0.0.0/24 is"),
        (with_cluster(network={"vpc_id": "vpc-1"}), "clusters[0].network: give vpc_id and subnet_ids together"),
        (
            with_cluster(network={"private_dns_zones": {"privatelink.blob.core.windows.net": HUB_BLOB_ZONE}}),
            "clusters[0].network: private_dns_zones needs vpc_id: a network made here has no zones linked to it yet",
        ),
        (on_hub({"blob": HUB_BLOB_ZONE}), "clusters[0].network.private_dns_zones: 'blob' — keys are privatelink"),
        (
            on_hub({"privatelink.dfs.core.windows.net": HUB_BLOB_ZONE}),
            "clusters[0].network.private_dns_zones: privatelink.dfs.core.windows.net: '/subscriptions/",
        ),
        (
            on_hub({"privatelink.blob.core.windows.net": HUB_BLOB_ZONE}),
            "clusters[0].network.private_dns_zones: azure only: aws clusters reach their lakes without private",
        ),
        (with_cluster(api={"public_cidrs": ["0.0.0.0/0"]}), "0.0.0.0/0 opens the API to the internet"),
        (
            with_cluster(node_pools=[GOOD["clusters"][0]["node_pools"][0]] * 2),
            "clusters[0].node_pools[1].name: 'gpu' — already used by clusters[0].node_pools[0]",
        ),
        ({"clusters": GOOD["clusters"] * 2}, "clusters[1].name: 'a' — already used by clusters[0]"),
        ({"clusterz": []}, "clusterz: unknown field; did you mean 'clusters'?"),
        (
            {"data_lakes": [{"name": "l", "cloud": "aws", "region": "us-east-1", "egress_cidrs": ["0.0.0.0/0"]}]},
            "data_lakes[0].egress_cidrs: 0.0.0.0/0 would let team pods reach anything",
        ),
        # Hostile and careless input (#21): bounds, zones, tags, numbers where text belongs, teams in a stack.
        ("hello", "aiinfra:platform: 'hello' — must be a mapping with clusters:, data_lakes: and workloads:"),
        (with_pool(nodes={"max": 10**26}), "clusters[0].node_pools[0].nodes.max: 100000000000000000000000000 — Input"),
        (with_cluster(zones=["us-east-1a", "us-east-1z"]), "clusters[0].zones[1]: 'us-east-1z' — not a zone of"),
        (with_cluster(zones=["us-west-2a"]), "clusters[0].zones[0]: 'us-west-2a' — not a zone of us-east-1; aws zones"),
        (with_cluster(tags={"Bad Key!": "x"}), "clusters[0].tags: 'Bad Key!' — a tag key is 1 to 128 letters"),
        (with_cluster(tags={"aws:owner": "x"}), "clusters[0].tags: 'aws:owner' — the aws: prefix is reserved"),
        (with_cluster(tags={"k": "v" * 257}), "clusters[0].tags.k: 'vvvv"),
        (with_cluster(tags={"k": "a;b"}), "clusters[0].tags.k: 'a;b' — a tag value is at most 256 letters"),
        (with_cluster(kubernetes_version=1.3), "clusters[0].kubernetes_version: 1.3 — a number to YAML; write it in"),
        ({**GOOD, "teams": [{"team": "x"}]}, "teams: teams live in stacks/teams/<team>.yaml, not in the stack"),
        (
            with_cluster(
                node_pools=[{"name": f"p{i}", "accelerator": "L4:1", "nodes": {"max": 1}} for i in range(101)]
            ),
            "clusters[0].node_pools: List should have at most 100 items after validation, not 101",
        ),
    ],
)
def test_each_bad_input_names_its_path_value_and_fix(raw, expected):
    found = problems(raw)
    assert any(expected in p for p in found), found


def test_bottlerocket_is_an_aws_choice():
    assert build_platform(with_pool(ami_family="bottlerocket")).clusters[0].node_pools[0].ami_family == "bottlerocket"
    raw = with_cluster(cloud="gcp", region="us-central1", zones=[])
    raw["clusters"][0]["node_pools"][0]["ami_family"] = "bottlerocket"
    assert "clusters[0].node_pools[0].ami_family: 'bottlerocket' — only on aws; remove it for gcp pools" in problems(
        raw
    )


def test_tpu_pools_derive_their_host_count_and_refuse_partial_slices():
    raw = with_cluster(
        cloud="gcp", region="us-central1", zones=[], node_pools=[{"name": "tpu", "accelerator": "TPU-v5p:2x2x2"}]
    )
    build_platform(raw)
    raw["clusters"][0]["node_pools"][0]["nodes"] = {"min": 0, "max": 3}
    (found,) = problems(raw)
    assert "a 2x2x2 slice is 2 host(s) that scale together; use nodes: {min: 0, max: 2}" in found


ONPREM = {
    "name": "rack",
    "cloud": "onprem",
    "kubeconfig": "kc",
    "node_pools": [
        {
            "name": "h100",
            "accelerator": "H100:8",
            "fabric": "infiniband",
            "nodes": {"min": 2, "max": 2},
            "node_selector": {"rack": "r1"},
        }
    ],
}


def test_on_prem_rules():
    build_platform({"clusters": [ONPREM]})
    bad = copy.deepcopy(ONPREM)
    del bad["kubeconfig"]
    bad["region"] = "here"
    bad["node_pools"][0].update(capacity="spot", node_selector={}, fabric="auto")
    found = problems({"clusters": [bad]})
    for expected in (
        "clusters[0].kubeconfig: required on-prem",
        "clusters[0].region: on-prem clusters have no",
        "clusters[0].node_pools[0].fabric: 'auto' — the fabric of existing on-prem nodes",
    ):
        assert any(expected in p for p in found), found
    bad["node_pools"][0]["fabric"] = "infiniband"
    found = problems({"clusters": [bad]})
    assert any("capacity: 'spot' — on-prem nodes are owned" in p for p in found), found
    assert any("node_selector: required on-prem" in p for p in found), found


def test_training_on_a_pool_without_a_node_size_needs_one_or_a_pod_size():
    raw = {"clusters": [ONPREM], "data_lakes": [{"name": "l", "cloud": "onprem", "endpoint": "https://s3.rack"}]}
    raw["workloads"] = [{"kind": "training", "name": "t", "team": "v", "cluster": "rack", "pool": "h100", "lake": "l"}]
    raw["registries"] = [{"cloud": "onprem", "url": "harbor.rack:8443/ml"}]
    teams = [("stacks/teams/v.yaml", {"team": "v", "owners": ["a@b.io"]})]
    assert problems(raw, teams) == [
        "workloads[0].cpu: pool h100 does not say how big its nodes are; give the pool's node size "
        "(clusters[0].node_pools[0].node: {cpus: N, memory_gib: M}), or cpu and memory_gib per pod here"
    ]
    raw["workloads"][0].update(cpu=96, memory_gib=1024)
    build_platform(raw, teams)
    del raw["workloads"][0]["cpu"], raw["workloads"][0]["memory_gib"]
    raw["clusters"] = [copy.deepcopy(ONPREM)]
    raw["clusters"][0]["node_pools"][0]["node"] = {"cpus": 224, "memory_gib": 2048}
    assert build_platform(raw, teams).clusters[0].node_pools[0].node.cpus == 224


def test_node_size_is_declared_on_prem_only():
    assert problems(with_pool(node={"cpus": 8, "memory_gib": 32})) == [
        "clusters[0].node_pools[0].node: on-prem only; the catalog sizes aws machines, remove it"
    ]


def test_references_between_sections():
    raw = copy.deepcopy(GOOD)
    raw["data_lakes"] = [
        {"name": "lake", "cloud": "onprem"},
        {"name": "l2", "cloud": "aws"},
        {"name": "g", "cloud": "gcp", "region": "us-central1"},
        {"name": "z", "cloud": "azure", "region": "eastus"},
    ]
    raw["workloads"] = [
        {"kind": "training", "name": "t", "team": "ghost", "cluster": "nope", "pool": "gpu", "lake": "swamp"},
        {
            "kind": "serving",
            "name": "s",
            "team": "vision",
            "cluster": "a",
            "pool": "tiny",
            "lake": "g",
            "model": "models/t/",
        },
        {"kind": "training", "name": "u", "team": "vision", "cluster": "a", "pool": "gpu", "lake": "z"},
    ]
    found = problems(raw, [("stacks/teams/vision.yaml", {"team": "vision", "owners": ["a@b.io"]})])
    for expected in (
        "data_lakes[0].endpoint: required on-prem",
        "data_lakes[1].region: required for aws",
        "workloads[0].cluster: 'nope' — no such cluster; known: a",
        "workloads[0].team: 'ghost' — no team file declares it; add stacks/teams/ghost.yaml",
        "workloads[0].lake: 'swamp' — no such data lake",
        "workloads[1].pool: 'tiny' — cluster a has no such pool; known: gpu",
        "workloads[1].lake: 'g' — the lake is on gcp; pods on aws cluster a get aws identities, which it does not",
        "workloads[2].lake: 'z' — the lake is on azure;",
    ):
        assert any(expected in p for p in found), found
    raw["workloads"] = [{**raw["workloads"][1], "model": "s3://x/"}]
    assert "workloads[0].model: 's3://x/' — String should match pattern" in problems(raw)[0]


def test_workloads_on_aks_use_adls_lakes():
    raw = with_cluster(
        cloud="azure",
        region="eastus",
        zones=[],
        node_pools=[{"name": "gpu", "accelerator": "H100:8", "nodes": {"max": 1}}],
    )
    raw["data_lakes"] = [{"name": "z", "cloud": "azure", "region": "eastus"}]
    raw["workloads"] = [{"kind": "training", "name": "t", "team": "v", "cluster": "a", "pool": "gpu", "lake": "z"}]
    platform = build_platform(raw, [("stacks/teams/v.yaml", {"team": "v", "owners": ["a@b.io"]})])
    assert [w.lake for w in platform.workloads] == ["z"]


def test_team_files_are_checked_with_their_file_name():
    teams = [
        (
            "stacks/teams/a.yaml",
            {"team": "a", "owners": ["not-an-email"], "quotas": {"prod": {"Z80": 1}}, "lake_prefixes": ["Data"]},
        ),
        ("stacks/teams/b.yaml", {"team": "b", "owners": ["b@x.io"], "quotas": {"prod": {"H100": 8}}}),
        ("stacks/teams/b2.yaml", {"team": "b", "owners": ["b@x.io"]}),
        ("stacks/teams/c.yaml", {"team": "c"}),
    ]
    found = problems(GOOD, teams)
    for expected in (
        "stacks/teams/a.yaml: owners[0]: 'not-an-email'",
        "stacks/teams/a.yaml: lake_prefixes: ",
        "stacks/teams/a.yaml: quotas.prod.Z80: 'Z80' — unknown accelerator",
        "stacks/teams/b2.yaml: team: 'b' — already declared in stacks/teams/b.yaml",
        "stacks/teams/c.yaml: owners: required; add it",
    ):
        assert any(expected in p for p in found), found
    fixed = [teams[1], ("stacks/teams/d.yaml", {"team": "d", "owners": ["d@x.io"], "quotas": {"dev": {"Z80": 1}}})]
    assert problems(GOOD, fixed) == [
        "stacks/teams/d.yaml: quotas.dev.Z80: 'Z80' — unknown accelerator; known: "
        "A100-40GB, A100-80GB, B200, H100, H200, L4, L40S, TPU-v5e, TPU-v5p, TPU-v6e"
    ]


def team(name: str, **quotas: dict[str, int]) -> tuple[str, dict]:
    return (f"stacks/teams/{name}.yaml", {"team": name, "owners": [f"{name}@x.io"], "quotas": quotas})


def test_a_team_file_must_be_named_after_its_team():
    assert problems(GOOD, [("stacks/teams/vision.yaml", {"team": "nlp", "owners": ["a@x.io"]})]) == [
        "stacks/teams/vision.yaml: team: 'nlp' — the file is named vision; rename it to nlp.yaml or set team: vision"
    ]


def test_quotas_name_stacks_of_the_project():
    found = problems(GOOD, [team("a", prd={"H100": 8}, dev={"H100": 1})], stack="prod", stacks=["dev", "prod"])
    assert found == [
        "stacks/teams/a.yaml: quotas.prd: 'prd' — no stack of that name; known: dev, prod; did you mean 'prod'?"
    ]


def test_a_quota_must_fit_a_cluster_of_its_stack():
    # GOOD declares one H100 pool of at most 2 nodes x 8 GPUs: 16 H100 on cluster a.
    assert build_platform(GOOD, [team("a", prod={"H100": 16})], stack="prod").teams[0].quotas == {"prod": {"H100": 16}}
    assert problems(GOOD, [team("a", prod={"H100": 17, "L4": 2})], stack="prod") == [
        "stacks/teams/a.yaml: quotas.prod.H100: 17 — above the H100 any prod cluster declares (a: 16); a quota "
        "applies on each cluster, so ask for at most 16 or raise a pool's nodes.max",
        "stacks/teams/a.yaml: quotas.prod.L4: 2 — no prod cluster has L4; prod has: H100 (a: 16); ask for one of "
        "those or add a L4 pool",
    ]
    # Another stack's quotas are checked when that stack is validated, not here; a zero quota asks for nothing.
    assert build_platform(GOOD, [team("a", dev={"L4": 99}, prod={"L4": 0})], stack="prod")


def test_a_team_file_with_other_mistakes_still_has_its_quotas_checked():
    name, raw = team("a", prod={"H100": 17}, prd={"H100": 1})
    found = problems(GOOD, [(name, {**raw, "owners": ["lead"]})], stack="prod", stacks=["dev", "prod"])
    assert [p.split(" — ")[0] for p in found] == [
        "stacks/teams/a.yaml: owners[0]: 'lead'",
        "stacks/teams/a.yaml: quotas.prod.H100: 17",
        "stacks/teams/a.yaml: quotas.prd: 'prd'",
    ]
    # Malformed quotas are reported once, as such, not checked against the clusters.
    found = problems(GOOD, [(name, {**raw, "owners": ["lead"], "quotas": {"prod": {"H100": "lots"}}})], stack="prod")
    assert [p.split(" — ")[0] for p in found] == [
        "stacks/teams/a.yaml: owners[0]: 'lead'",
        "stacks/teams/a.yaml: quotas.prod.H100: 'lots'",
    ]


def test_team_files_of_the_wrong_shape_or_types_say_what_to_write():
    teams = [
        ("stacks/teams/list.yaml", ["team: a"]),
        ("stacks/teams/empty.yaml", None),
        ("stacks/teams/typo.yaml", {"team": "typo", "owners": ["t@x.io"], "quota": {"prod": {"H100": 8}}}),
        (
            "stacks/teams/types.yaml",
            {"team": "types", "owners": ["t@x.io"], "quotas": {"prod": {"H100": True, "L4": "8"}, 1: {"L4": 1}}},
        ),
        ("stacks/teams/lonely.yaml", {"team": "lonely", "owners": []}),
    ]
    assert problems(GOOD, teams) == [
        "stacks/teams/list.yaml: a list — a team file is a mapping of team, owners, quotas and lake_prefixes; "
        "`aiinfra team new NAME --owner EMAIL` writes one",
        "stacks/teams/empty.yaml: empty — a team file is a mapping of team, owners, quotas and lake_prefixes; "
        "`aiinfra team new NAME --owner EMAIL` writes one",
        "stacks/teams/typo.yaml: quota: unknown field; did you mean 'quotas'?",
        "stacks/teams/types.yaml: quotas.prod.H100: True — a quota is a whole number of GPUs or TPU chips, e.g. 8",
        "stacks/teams/types.yaml: quotas.prod.L4: '8' — a quota is a whole number of GPUs or TPU chips, e.g. 8",
        "stacks/teams/types.yaml: quotas: 1 — keys here are names (a stack, an accelerator model); write it as text",
        "stacks/teams/lonely.yaml: owners: no owner; list at least one e-mail of who answers for the team's quota, "
        "e.g. [lead@example.com]",
    ]


def test_team_prefixes_must_make_distinct_grants_in_zones_the_lakes_have():
    raw = {
        **copy.deepcopy(GOOD),
        "data_lakes": [{"name": "s3", "cloud": "aws", "region": "us-east-1", "zones": ["raw", "curated"]}],
    }
    name, request = team("a", prod={"H100": 8})
    collide = {**request, "lake_prefixes": ["datasets/a-b/", "datasets/a/b/"]}
    assert problems(raw, [(name, collide)], stack="prod") == [
        "stacks/teams/a.yaml: lake_prefixes: 'datasets/a/b/' and 'datasets/a-b/' would name their lake grants alike "
        "(datasets-a-b); keep one, or rename one so they differ in more than punctuation"
    ]
    zoned = {**request, "lake_prefixes": ["raw/a/", "models/a/"]}
    assert problems(raw, [(name, zoned)], stack="prod") == [
        "stacks/teams/a.yaml: lake_prefixes[1]: 'models/a/' — lake s3 has no models zone (raw, curated); write the "
        "prefix without its zone (the team's area in every zone) or add models to the lake"
    ]
    # The grants exist only where the team has a namespace: none in a stack without its quota.
    assert build_platform(raw, [(name, {**zoned, "quotas": {}})], stack="prod")


def serving(**extra) -> dict:
    raw = copy.deepcopy(GOOD)
    raw["data_lakes"] = [{"name": "s3", "cloud": "aws", "region": "us-east-1"}]
    raw["workloads"] = [
        {"kind": "serving", "name": "chat", "team": "a", "cluster": "a", "pool": "gpu", "lake": "s3"}
        | {"model": "models/chat/", **extra}
    ]
    return raw


def test_client_teams_of_a_server_are_other_declared_teams():
    teams = [team("a", prod={"H100": 8}), team("b", prod={"H100": 0})]
    spec = build_platform(serving(client_teams=["b"], client_namespaces=["monitoring"]), teams, stack="prod")
    assert spec.workloads[0].client_teams == ["b"]
    assert problems(serving(client_teams=["a", "zz"]), teams) == [
        "workloads[0].client_teams[0]: 'a' — the server's own team always reaches it; remove it",
        "workloads[0].client_teams[1]: 'zz' — no team file declares it; known teams: a, b",
    ]


def test_a_workload_team_and_its_client_teams_need_a_namespace_on_its_cluster():
    teams = [team("a", dev={"H100": 8}), team("b", prod={"L4": 1}), team("c", prod={"H100": 0})]
    assert problems(serving(client_teams=["b", "c"]), teams, stack="prod") == [
        "stacks/teams/b.yaml: quotas.prod.L4: 1 — no prod cluster has L4; prod has: H100 (a: 16); ask for one of "
        "those or add a L4 pool",
        "workloads[0].team: 'a' — team a has no prod quota for an accelerator of a (H100), so no namespace there; "
        "add one to stacks/teams/a.yaml (0 makes a namespace without accelerators)",
        "workloads[0].client_teams[0]: 'b' — team b has no prod quota for an accelerator of a (H100), so no "
        "namespace there; add one to stacks/teams/b.yaml (0 makes a namespace without accelerators)",
    ]


def test_declared_capacity_sums_pools_per_cluster_and_counts_tpu_chips():
    raw = copy.deepcopy(GOOD)
    raw["clusters"][0]["node_pools"].append({"name": "gpu2", "accelerator": "H100:8", "nodes": {"min": 0, "max": 1}})
    raw["clusters"].append(
        {
            "name": "g",
            "cloud": "gcp",
            "region": "us-central1",
            "zones": ["us-central1-a"],
            "node_pools": [
                {"name": "tpu", "accelerator": "TPU-v5p:2x2x2"},
                {"name": "cpu", "accelerator": "cpu", "nodes": {"max": 2}},
            ],
        }
    )
    assert declared_capacity(build_platform(raw)) == {"H100": {"a": 24}, "TPU-v5p": {"g": 8}}


def test_all_problems_are_reported_at_once_even_next_to_malformed_siblings():
    raw = {
        "clusters": [
            {
                "name": "a",
                "cloud": "aws",
                "region": "us-east-1",
                "node_pools": [
                    {"name": "ok", "accelerator": "H100:9", "nodes": {"max": 1}},
                    {"name": "bad", "accelerator": "H100:8", "nodes": {"min": 2, "max": 1}},
                ],
            },
            {
                "name": "B",
                "cloud": "gcp",
                "node_pools": [{"name": "t", "accelerator": "TPU-v5p:2x2x2", "fabric": "efa"}],
            },
        ]
    }
    found = problems(raw)
    assert found == [
        "clusters[0].node_pools[1].nodes: min 2 is above max 1; set min <= max",
        "clusters[1].name: 'B' — must be a lower-case DNS label (a-z, 0-9, '-', starting with a letter, at most 40)",
        "clusters[0].node_pools[0].accelerator: 'H100:9' — H100 comes 1 or 8 per node on aws "
        "(p5.4xlarge: 1, p5.48xlarge: 8)",
        "clusters[1].region: required for gcp clusters; add it",
        "clusters[1].node_pools[0].fabric: 'efa' — TPU slices talk over their own ICI links; use fabric: auto",
    ]


def test_json_schema_describes_the_pool_fields():
    schema = json_schema()
    pool = schema["$defs"]["NodePoolSpec"]["properties"]
    assert {"accelerator", "fabric", "local_nvme", "capacity", "nodes"} <= set(pool)
    assert "auto uses the machine's fabric" in pool["fabric"]["description"]


def test_pools_are_checked_against_the_regions_and_zones_their_machines_are_sold_in():
    assert build_platform(with_cluster(region="us-east-2", zones=["us-east-2a"]))
    [found] = problems(with_cluster(region="eu-west-1", zones=["eu-west-1a"]))
    assert found.startswith(
        "clusters[0].node_pools[0].accelerator: 'H100:8' — p5.48xlarge is not offered in eu-west-1 per the catalog"
    )
    gcp = with_cluster(cloud="gcp", region="us-central1", zones=["us-central1-a", "us-central1-f"])
    [found] = problems(gcp)
    assert found.startswith("clusters[0].node_pools[0].zone: 'us-central1-f' — a3-megagpu-8g is not offered in zone")
    gcp["clusters"][0]["node_pools"][0]["zone"] = "us-central1-a"
    assert build_platform(gcp)


def test_validate_exits_2_naming_the_pool_and_the_regions(tmp_path, capsys):
    (tmp_path / "Pulumi.yaml").write_text("name: t\nruntime: python\nstackConfigDir: stacks\n")
    (tmp_path / "__main__.py").write_text("")
    (tmp_path / "stacks").mkdir()
    stack = with_cluster(cloud="azure", region="westus2", zones=["1"])
    (tmp_path / "stacks" / "Pulumi.west.yaml").write_text(yaml.safe_dump({"config": {"aiinfra:platform": stack}}))
    assert main(["-C", str(tmp_path), "validate", "--stack", "west"]) == 2
    err = capsys.readouterr().err
    assert "error: clusters[0].node_pools[0].accelerator: 'H100:8' — Standard_ND96isr_H100_v5 is not offered in " in err
    assert "westus2 per the catalog" in err and "offered in: eastus, eastus2, westus; pick one of them" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("pool", "work", "expected"),
    [
        ({"accelerator": "cpu"}, {}, "workloads[0].pool: 'gpu' — a CPU pool; train on a GPU or TPU pool"),
        (
            {},
            {"nodes": 50},
            "workloads[0].nodes: 50 — pool gpu has at most 2 nodes (clusters[0].node_pools[0].nodes.max), so the "
            "job would never be admitted; lower nodes or raise the pool's max",
        ),
        ({}, {"recipe": "70b"}, "workloads[0].recipe: '70b' — unknown recipe; use one of tiny, 1b, 7b"),
        ({}, {"nodes": 10**6}, "workloads[0].nodes: 1000000 — Input should be less than or equal to 1000"),
    ],
    ids=["cpu-pool", "more-than-the-pool", "unknown-recipe", "absurd"],
)
def test_training_jobs_the_cluster_could_never_run_are_refused_with_stack_paths(pool, work, expected):
    raw = with_pool(**pool)
    raw["data_lakes"] = [{"name": "z", "cloud": "aws", "region": "us-east-1"}]
    job = {"kind": "training", "name": "t", "team": "v", "cluster": "a", "pool": "gpu", "lake": "z", **work}
    raw["workloads"] = [job]
    assert problems(raw, [("stacks/teams/v.yaml", {"team": "v", "owners": ["a@b.io"]})]) == [expected]


def test_a_tpu_job_runs_one_pod_per_host_of_the_slice():
    raw = with_cluster(
        cloud="gcp",
        region="us-central1",
        zones=["us-central1-a"],
        node_pools=[{"name": "gpu", "accelerator": "TPU-v5p:2x2x2"}],
    )
    raw["data_lakes"] = [{"name": "z", "cloud": "gcp", "region": "us-central1"}]
    raw["workloads"] = [{"kind": "training", "name": "t", "team": "v", "cluster": "a", "pool": "gpu", "lake": "z"}]
    assert problems(raw, [("stacks/teams/v.yaml", {"team": "v", "owners": ["a@b.io"]})]) == [
        "workloads[0].nodes: 1 — a TPU v5p 2x2x2 slice runs one pod per host; use nodes: 2"
    ]


def test_the_schema_offers_no_teams_key():
    assert "teams" not in json_schema()["properties"]


def hybrid_builders() -> dict:
    """Training on AWS, two Azure clusters and a rack, all on the built images."""
    pool = {"name": "gpu", "accelerator": "H100:8", "nodes": {"min": 0, "max": 2}}
    azure = {"cloud": "azure", "region": "eastus", "node_pools": [pool]}
    raw = copy.deepcopy(GOOD)
    raw["clusters"] += [{"name": "z1", **azure}, {"name": "z2", **azure}, copy.deepcopy(ONPREM)]
    raw["clusters"][3]["node_pools"][0]["node"] = {"cpus": 224, "memory_gib": 2048}
    raw["data_lakes"] = [
        {"name": "la", "cloud": "aws", "region": "us-east-1"},
        {"name": "lz", "cloud": "azure", "region": "eastus"},
        {"name": "lr", "cloud": "onprem", "endpoint": "https://s3.rack"},
    ]
    job = {"kind": "training", "team": "v", "pool": "gpu", "nodes": 1}
    raw["workloads"] = [
        {**job, "name": "ta", "cluster": "a", "lake": "la"},
        {**job, "name": "tz1", "cluster": "z1", "lake": "lz"},
        {**job, "name": "tz2", "cluster": "z2", "lake": "lz"},
        {**job, "name": "tr", "cluster": "rack", "pool": "h100", "lake": "lr"},
    ]
    return raw


TEAM_V = [("stacks/teams/v.yaml", {"team": "v", "owners": ["a@b.io"]})]


def test_registries_are_per_cloud_and_on_prem_needs_the_url_of_its_own():
    raw = hybrid_builders()
    assert problems(raw, TEAM_V) == [
        "workloads[3].image: on-prem workloads need a registry for the built image: add registries: [{cloud: "
        "onprem, url: registry.example.com/ml}] (pushed with your docker login), or give a prebuilt image here",
    ]
    raw["registries"] = [
        {"cloud": "onprem", "url": "harbor.rack:8443/ml"},
        {"cloud": "azure", "region": "westus3", "push_cidrs": ["203.0.113.0/28"]},
        {"cloud": "aws", "push_cidrs": ["203.0.113.0/28"]},
        {"cloud": "gcp", "region": "us-central1"},
        {"cloud": "onprem", "url": "https://harbor.rack/ml", "region": "x"},
    ]
    assert problems(raw, TEAM_V) == ["registries: List should have at most 4 items after validation, not 5"]
    del raw["registries"][0]
    assert problems(raw, TEAM_V)[0] == (
        "registries[3].url: 'https://harbor.rack/ml' — write the registry as host[:port][/path], lower case, "
        "without https://"
    )
    raw["registries"].insert(0, raw["registries"].pop())
    raw["registries"][0] = {"cloud": "onprem", "url": "harbor.rack:8443/ml"}
    assert problems(raw, TEAM_V) == [
        "registries[2].push_cidrs: azure only: other registries authorize pushes by identity",
        "registries[3]: no workload on gcp runs the built images (each names its own image:); remove it",
    ]
    raw["registries"][2]["pull_secret"] = "harborPull"
    assert "registries[2].pull_secret: on-prem only: aws nodes pull with their cloud identity; remove it" in problems(
        raw, TEAM_V
    )
    raw["registries"][1:] = [{"cloud": "azure", "push_cidrs": ["203.0.113.0/28"]}]
    spec = build_platform(raw, TEAM_V)
    assert [r.cloud for r in spec.registries] == ["onprem", "azure"]
    raw["registries"].append({"cloud": "azure", "push_cidrs": ["0.0.0.0/0"]})
    assert problems(raw, TEAM_V) == [
        "registries[2].push_cidrs: 0.0.0.0/0 would open the registry to the internet; give the deploying "
        "machine's range"
    ]
    raw["registries"][2]["push_cidrs"] = []
    assert problems(raw, TEAM_V) == [
        "registries[2].cloud: 'azure' — already used by registries[1]; one registry per cloud"
    ]


def test_production_stacks_run_prebuilt_images_only_by_digest():
    raw = copy.deepcopy(GOOD)
    raw["data_lakes"] = [{"name": "la", "cloud": "aws", "region": "us-east-1"}]
    raw["workloads"] = [
        {"kind": "training", "name": "t", "team": "v", "cluster": "a", "pool": "gpu", "lake": "la", "image": image}
        for image in ("registry.example.com/train:1.4",)
    ]
    teams = [("stacks/teams/v.yaml", {"team": "v", "owners": ["a@b.io"], "quotas": {"prod-eu": {"H100": 16}}})]
    assert problems(raw, teams, stack="prod-eu") == [
        "workloads[0].image: 'registry.example.com/train:1.4' — production stacks run images by digest: give "
        "repository@sha256:<digest> (`docker buildx imagetools inspect IMAGE` prints it), or remove image: to "
        "build ours"
    ]
    build_platform(
        raw, [("stacks/teams/v.yaml", {"team": "v", "owners": ["a@b.io"], "quotas": {"dev": {"H100": 8}}})], stack="dev"
    )
    raw["workloads"][0]["image"] = "registry.example.com/train@sha256:" + "0f" * 32
    build_platform(raw, teams, stack="prod-eu")
    raw["workloads"][0]["image"] = "registry.example.com/train@sha256:short"
    assert problems(raw, teams, stack="prod-eu") == [
        "workloads[0].image: 'registry.example.com/train@sha256:short' — not an image reference; write "
        "repository[:tag][@sha256:<64 hex digits>], lower case"
    ]
