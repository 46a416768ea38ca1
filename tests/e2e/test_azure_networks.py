"""Two AKS clusters in two regions with two ADLS lakes, as a platform engineer would declare them: training in
eastus, serving in westus3, both on the built images. The plan passes prod's policy config, and every
cluster's VNet reaches each lake and the registry through private endpoints of its own, registered in zones
linked to that VNet only (and reused by the second lake: Azure links a VNet to one zone of a name)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.e2e.test_cli import run_cli

STACK = """
config:
  aiinfra:platform:
    tags: {cost-center: ml-platform, owner: platform@example.com, data-classification: confidential}
    clusters:
      - name: az-train
        protect: true
        cloud: azure
        region: eastus
        zones: ["1", "2", "3"]
        kubernetes_version: "1.33"
        node_pools:
          - {name: ndh100, accelerator: "H100:8", nodes: {min: 0, max: 2}, zone: "1"}
      - name: az-serve
        protect: true
        cloud: azure
        region: westus3
        zones: ["1", "2", "3"]
        kubernetes_version: "1.33"
        network: {cidr: 10.8.0.0/16}
        node_pools:
          - {name: a100, accelerator: "A100-80GB:1", nodes: {min: 0, max: 2}}
    data_lakes:
      - {name: corpus, protect: true, cloud: azure, region: eastus, egress_cidrs: [10.0.0.0/16, 10.8.0.0/16]}
      - {name: models, protect: true, cloud: azure, region: eastus, egress_cidrs: [10.0.0.0/16, 10.8.0.0/16]}
    registries:
      - {cloud: azure, protect: true}
    workloads:
      - {kind: training, name: pretrain, team: nlp, cluster: az-train, pool: ndh100, lake: models, nodes: 2}
      - {kind: serving, name: chat, team: vision, cluster: az-serve, pool: a100, lake: models, model: models/pretrain/}
"""
TEAMS = {
    "nlp": {"team": "nlp", "owners": ["nlp-lead@example.com"], "quotas": {"twoazure": {"H100": 16}}},
    "vision": {"team": "vision", "owners": ["vision-lead@example.com"], "quotas": {"twoazure": {"A100-80GB": 2}}},
}
PE = "azure-native:network:PrivateEndpoint"


@pytest.fixture(scope="module")
def plan(tmp_path_factory) -> dict:
    project = tmp_path_factory.mktemp("twoazure")
    repo = Path(__file__).resolve().parents[2]
    for name in ("Pulumi.yaml", "__main__.py"):
        (project / name).write_text((repo / name).read_text())
    for package in ("aiinfra", "workloads", "policies"):
        (project / package).symlink_to(repo / package, target_is_directory=True)
    (project / "stacks" / "teams").mkdir(parents=True)
    (project / "stacks" / "Pulumi.twoazure.yaml").write_text(STACK)
    for team, request in TEAMS.items():
        (project / "stacks" / "teams" / f"{team}.yaml").write_text(yaml.safe_dump(request))
    result = run_cli(
        "-C", str(project), "plan", "--stack", "twoazure", "--policy-config", "policies/config/prod.json", "--json"
    )
    assert result.returncode in (0, 1), result.stderr  # 1: mandatory violations, listed by the test below
    return json.loads(result.stdout)


def states(plan: dict, type_: str) -> list[dict]:
    return [s["newState"] for s in plan["steps"] if s["newState"]["type"] == type_]


def test_it_plans_with_no_policy_violation_under_prods_config(plan):
    assert plan["policyViolations"] == []


def test_each_vnet_reaches_both_lakes_and_the_registry_through_endpoints_in_its_own_subnet(plan):
    endpoints = states(plan, PE)
    by_subnet: dict[str, Counter] = {}
    for endpoint in endpoints:
        (connection,) = endpoint["inputs"]["privateLinkServiceConnections"]
        by_subnet.setdefault(endpoint["inputs"]["subnet"]["id"], Counter()).update(connection["groupIds"])
    # Blob and dfs of each lake, and the registry, from each cluster's endpoint subnet.
    assert list(by_subnet.values()) == [Counter({"blob": 2, "dfs": 2, "registry": 1})] * 2
    assert Counter(e["inputs"]["location"] for e in endpoints) == {"eastus": 5, "westus3": 5}


def test_every_vnet_links_one_zone_of_each_name_and_a_replica_serves_westus3(plan):
    links = states(plan, "azure-native:privatedns:VirtualNetworkLink")
    zones = {z["urn"]: z["inputs"]["privateZoneName"] for z in states(plan, "azure-native:privatedns:PrivateZone")}
    assert sorted(Counter(zones.values()).values()) == [2, 2, 2]  # blob, dfs, azurecr: once per VNet
    per_vnet = Counter((link["inputs"]["virtualNetwork"]["id"], link["inputs"]["privateZoneName"]) for link in links)
    assert len(per_vnet) == 6 and set(per_vnet.values()) == {1}
    (replica,) = states(plan, "azure-native:containerregistry:Replication")
    assert replica["inputs"]["location"] == "westus3"
