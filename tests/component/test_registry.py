"""`ImageRegistry` under the plan's mock engine: each cloud's hardening, pull rights for exactly the given
clusters' node identities, the BuildKit builds (context, platform, cache, content tag) and the digest references
workloads get; the content tag and the problems raised before anything is registered."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from aiinfra.core.errors import InputError
from aiinfra.plan.mock_registry import ACCOUNT_ID, AZURE_SUBSCRIPTION
from components.aws.registry import PULL_ACTIONS, lifecycle_policy
from components.cluster import Cluster
from components.contracts import ClusterArgs, ImageSource, RegistryArgs
from components.gcp.gke import NODE_ROLES
from components.registry import ImageRegistry, content_tag, dockerfile_sources
from tests.conftest import of_type, one
from workloads.deploy.inference_service import SERVING_IMAGE
from workloads.deploy.training_job import TRAINING_IMAGE, XLA_TRAINING_IMAGE

REPO = Path(__file__).resolve().parents[2]
REGIONS = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus"}
ZONES = {"aws": ("us-east-1a",), "gcp": ("us-central1-a",), "azure": ("1",)}
IMAGES = (SERVING_IMAGE, TRAINING_IMAGE)
DIGEST_REF = re.compile(r"^(?P<repository>[^@]+)@sha256:[0-9a-f]{64}$")

_RUNS: dict[str, object] = {}


def registry_args(cloud: str, pullers=(), **kw) -> RegistryArgs:
    base: dict = {"cloud": cloud, "images": IMAGES, "context": str(REPO), "pullers": pullers, "tags": {"o": "p"}}
    if cloud in REGIONS:
        base["region"] = REGIONS[cloud]
    if cloud == "onprem":
        base["url"] = "harbor.rack.example.com/aiinfra"
    return RegistryArgs(**(base | kw))


@pytest.fixture
def plan(run_mocked):
    """Plan a cluster "train" of the cloud and a registry "images" its nodes pull from (cached by arguments)."""

    def planned(cloud: str, **kw):
        key = repr((cloud, sorted(kw.items())))
        if key not in _RUNS:

            def program():
                pullers = ()
                if cloud != "onprem":
                    args = ClusterArgs(
                        cloud=cloud, region=REGIONS[cloud], zones=ZONES[cloud], kubernetes_version="1.33"
                    )
                    pullers = (Cluster("train", args).adapter,)
                registry = ImageRegistry("images", registry_args(cloud, pullers, **kw))
                registry.refs["aiinfra-serving"].apply(lambda ref: refs.setdefault("serving", ref))

            refs: dict[str, str] = {}
            run = run_mocked(program)
            _RUNS[key] = (run, refs)
        return _RUNS[key]

    return planned


def builds(run) -> dict[str, object]:
    return {r.name: r for r in of_type(run, "docker-build:index:Image")}


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure", "onprem"])
def test_each_image_is_built_once_for_amd64_from_the_repository_with_its_cache_in_the_registry(plan, cloud):
    run, refs = plan(cloud)
    found = builds(run)
    assert sorted(found) == ["images-aiinfra-serving", "images-aiinfra-training"]
    for image in IMAGES:
        build = found[f"images-{image.repository}"].inputs
        assert build["context"] == {"location": str(REPO)}
        assert build["dockerfile"] == {"location": str(REPO / image.dockerfile)}
        assert build["platforms"] == ["linux/amd64"] and build["push"] is True
        (tag,) = build["tags"]
        repository, _, version = tag.rpartition(":")
        assert repository.endswith(f"/{image.repository}") and version == content_tag(REPO, image.dockerfile)
        (cache_from,) = build["cacheFrom"]
        (cache_to,) = build["cacheTo"]
        assert cache_from["registry"]["ref"] == cache_to["registry"]["ref"]
        assert cache_to["registry"]["ref"].endswith(f"/{image.repository}:buildcache")
        assert cache_to["registry"]["mode"] == "max" and cache_to["registry"]["imageManifest"] is True
    match = DIGEST_REF.match(refs["serving"])
    assert match, refs["serving"]
    assert found["images-aiinfra-serving"].inputs["tags"][0].startswith(match["repository"] + ":")


def test_ecr_repositories_are_immutable_scanned_kms_encrypted_and_pulled_by_the_node_role_only(plan):
    run, refs = plan("aws")
    (key,) = [k for k in of_type(run, "aws:kms/key:Key") if k.name == "images-key"]
    assert key.inputs["enableKeyRotation"] is True
    repositories = of_type(run, "aws:ecr/repository:Repository")
    assert sorted(r.inputs["name"] for r in repositories) == ["test/aiinfra-serving", "test/aiinfra-training"]
    for repository in repositories:
        assert repository.inputs["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
        assert repository.inputs["imageTagMutabilityExclusionFilters"] == [
            {"filter": "buildcache", "filterType": "WILDCARD"}
        ]
        assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
        (encryption,) = repository.inputs["encryptionConfigurations"]
        assert encryption["encryptionType"] == "KMS" and encryption["kmsKey"].startswith("arn:aws:kms:")
    roles = {r.name: r for r in of_type(run, "aws:iam/role:Role")}
    node_role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{roles['train-node-role'].outputs['name']}"
    for policy in of_type(run, "aws:ecr/repositoryPolicy:RepositoryPolicy"):
        (statement,) = json.loads(policy.inputs["policy"])["Statement"]
        assert statement["Principal"] == {"AWS": [node_role_arn]}
        assert statement["Action"] == list(PULL_ACTIONS)
    for policy in of_type(run, "aws:ecr/lifecyclePolicy:LifecyclePolicy"):
        assert json.loads(policy.inputs["policy"]) == lifecycle_policy(7, 30)
    assert refs["serving"].startswith(f"{ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/test/aiinfra-serving@sha256:")


def test_artifact_registry_is_cmek_immutable_cleaned_up_and_read_by_the_node_account_only(plan):
    run, refs = plan("gcp")
    images, cache = sorted(of_type(run, "gcp:artifactregistry/repository:Repository"), key=lambda r: r.name)[::-1]
    keys = {k.name: k for k in of_type(run, "gcp:kms/cryptoKey:CryptoKey")}
    assert images.inputs["repositoryId"] == "aiinfra-test" and cache.inputs["repositoryId"] == "aiinfra-test-cache"
    assert images.inputs["dockerConfig"] == {"immutableTags": True}
    assert "dockerConfig" not in cache.inputs  # BuildKit moves the cache tag
    for repository in (images, cache):
        assert repository.inputs["format"] == "DOCKER"
        assert repository.inputs["kmsKeyName"] == keys["images-key"].id
        assert repository.inputs["cleanupPolicyDryRun"] is False
    assert [p["id"] for p in images.inputs["cleanupPolicies"]] == ["delete-untagged", "keep-newest"]
    agent = [m for m in of_type(run, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember") if m.name.startswith("images")]
    assert agent[0].inputs["member"].endswith("@gcp-sa-artifactregistry.iam.gserviceaccount.com")
    (pull,) = of_type(run, "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
    assert pull.inputs["role"] == "roles/artifactregistry.reader" and pull.inputs["repository"] == "aiinfra-test"
    nodes = [a for a in of_type(run, "gcp:serviceaccount/account:Account") if a.name == "train-nodes"]
    assert pull.inputs["member"] == nodes[0].outputs["member"]
    assert "roles/artifactregistry.reader" not in NODE_ROLES  # not on every repository of the project
    assert refs["serving"].startswith("us-central1-docker.pkg.dev/aiinfra-offline/aiinfra-test/aiinfra-serving@")


@pytest.mark.parametrize("push_cidrs", [(), ("203.0.113.0/28",)])
def test_acr_is_premium_private_without_admin_and_pulled_by_the_kubelet_identity(plan, push_cidrs):
    run, refs = plan("azure", push_cidrs=push_cidrs)
    registry = one(run, "azure-native:containerregistry:Registry").inputs
    assert registry["sku"] == {"name": "Premium"}
    assert registry["adminUserEnabled"] is False and registry["anonymousPullEnabled"] is False
    assert registry["networkRuleBypassOptions"] == "None" and registry["zoneRedundancy"] == "Enabled"
    assert registry["policies"]["retentionPolicy"] == {"days": 7, "status": "enabled"}
    if push_cidrs:
        assert registry["publicNetworkAccess"] == "Enabled"
        rules = registry["networkRuleSet"]
        assert rules["defaultAction"] == "Deny"
        assert [(r["action"], r["iPAddressOrRange"]) for r in rules["ipRules"]] == [("Allow", "203.0.113.0/28")]
    else:
        assert registry["publicNetworkAccess"] == "Disabled"
        assert registry["policies"]["exportPolicy"] == {"status": "disabled"}
    endpoints = [e for e in of_type(run, "azure-native:network:PrivateEndpoint") if e.name == "images-pe"]
    (connection,) = endpoints[0].inputs["privateLinkServiceConnections"]
    assert connection["groupIds"] == ["registry"]
    zones = [z.inputs["privateZoneName"] for z in of_type(run, "azure-native:privatedns:PrivateZone")]
    assert "privatelink.azurecr.io" in zones
    (pull,) = [a for a in of_type(run, "azure-native:authorization:RoleAssignment") if a.name == "images-pull-0"]
    assert pull.inputs["roleDefinitionId"] == (
        f"/subscriptions/{AZURE_SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/"
        "7f951dda-4ed3-4680-a7ca-43fe172d538d"
    )
    assert pull.inputs["scope"] == one(run, "azure-native:containerregistry:Registry").id
    assert re.match(r"^acr[0-9a-f]+\.azurecr\.io/aiinfra-serving@sha256:", refs["serving"])


def test_every_azure_cluster_pulls_privately_from_its_own_network_and_a_replica_in_its_region(run_mocked):
    """Two clusters with VNets of their own (eastus, westeurope) and two sharing an existing hub VNet (westeurope)
    whose privatelink.azurecr.io zone exists: three networks, each with an endpoint, two new zones and the hub's;
    one replica, in westeurope."""
    hub = f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/hub"
    hub_zone = f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/net/providers/Microsoft.Network/privateDnsZones/z"
    existing = {
        "vpc_id": hub,
        "subnet_ids": tuple(f"{hub}/subnets/{s}" for s in ("nodes", "endpoints", "api")),
        "private_dns_zone_ids": {"privatelink.azurecr.io": hub_zone},
    }

    def program():
        def aks(name: str, region: str, **network) -> object:
            args = ClusterArgs(cloud="azure", region=region, zones=("1",), kubernetes_version="1.33", **network)
            return Cluster(name, args).adapter

        pullers = (
            aks("z1", "eastus"),
            aks("z2", "westeurope"),
            aks("z3", "westeurope", **existing),
            aks("z4", "westeurope", **existing),
        )
        ImageRegistry("images", registry_args("azure", pullers))

    run = run_mocked(program)
    (replica,) = of_type(run, "azure-native:containerregistry:Replication")
    registry = one(run, "azure-native:containerregistry:Registry")
    assert registry.inputs["location"] == "eastus"
    assert replica.inputs["location"] == replica.inputs["replicationName"] == "westeurope"
    assert replica.inputs["registryName"] == registry.outputs["name"] and replica.inputs["zoneRedundancy"] == "Enabled"
    endpoints = {e.name: e for e in of_type(run, "azure-native:network:PrivateEndpoint") if e.name.startswith("images")}
    assert sorted(endpoints) == ["images-pe", "images-pe-1", "images-pe-2"]
    assert [endpoints[n].inputs["location"] for n in sorted(endpoints)] == ["eastus", "westeurope", "westeurope"]
    assert endpoints["images-pe-2"].inputs["subnet"] == {"id": f"{hub}/subnets/endpoints"}
    for endpoint in endpoints.values():
        assert replica.urn in endpoint.dependencies  # it registers the replica's data endpoint
        (connection,) = endpoint.inputs["privateLinkServiceConnections"]
        assert connection["privateLinkServiceId"] == registry.id and connection["groupIds"] == ["registry"]
    zones = [z for z in of_type(run, "azure-native:privatedns:PrivateZone") if z.name.startswith("images")]
    assert [z.inputs["privateZoneName"] for z in zones] == ["privatelink.azurecr.io"] * 2
    assert len({z.inputs["resourceGroupName"] for z in zones}) == 2  # a group holds one zone of a name
    links = of_type(run, "azure-native:privatedns:VirtualNetworkLink")
    linked = [link.inputs["virtualNetwork"]["id"] for link in links if link.name.startswith("images")]
    assert len(set(linked)) == 2 and hub not in linked  # the hub's zone is linked already
    registered = {
        g.name: g.inputs["privateDnsZoneConfigs"][0]["privateDnsZoneId"]
        for g in of_type(run, "azure-native:network:PrivateDnsZoneGroup")
    }
    assert registered["images-pe-2-dns"] == hub_zone
    pulls = [a for a in of_type(run, "azure-native:authorization:RoleAssignment") if a.name.startswith("images-pull")]
    assert len(pulls) == 4 and {a.inputs["scope"] for a in pulls} == {registry.id}


def test_onprem_pushes_under_the_given_url_and_creates_nothing_else(plan):
    run, refs = plan("onprem")
    types = {r.type for r in run.resources} - {"pulumi:pulumi:Stack"}
    assert types == {
        "aiinfra:index:ImageRegistry",
        "aiinfra:kubernetes:ExternalRegistry",
        "docker-build:index:Image",
    }
    assert refs["serving"].startswith("harbor.rack.example.com/aiinfra/aiinfra-serving@sha256:")
    for build in builds(run).values():
        assert "registries" not in build.inputs  # the deploying machine's docker login


def test_the_content_tag_changes_with_exactly_the_files_the_dockerfile_copies(tmp_path):
    for path in [
        "workloads/serving",
        "workloads/shared",
        "aiinfra/core",
        "workloads/__init__.py",
        "aiinfra/__init__.py",
    ]:
        (shutil.copytree if (REPO / path).is_dir() else shutil.copy)(REPO / path, tmp_path / path)
    tag = content_tag(tmp_path, SERVING_IMAGE.dockerfile)
    assert tag == content_tag(REPO, SERVING_IMAGE.dockerfile) and re.match(r"^src-[0-9a-f]{20}$", tag)
    (tmp_path / "README.md").write_text("not copied")
    (tmp_path / "workloads/serving/__pycache__").mkdir(exist_ok=True)
    (tmp_path / "workloads/serving/__pycache__/x.pyc").write_bytes(b"\0")
    assert content_tag(tmp_path, SERVING_IMAGE.dockerfile) == tag
    (tmp_path / "workloads/shared/model.py").write_text("# changed\n", encoding="utf-8")
    assert content_tag(tmp_path, SERVING_IMAGE.dockerfile) != tag
    sources = {s for srcs, _ in dockerfile_sources(REPO / XLA_TRAINING_IMAGE.dockerfile) for s in srcs}
    assert "workloads/training/" in sources and "workloads/serving/" not in sources


def test_problems_are_raised_together_before_anything_is_registered(run_mocked):
    wrong = [
        registry_args("onprem", url="https://harbor/ml", region="x"),
        registry_args("aws", push_cidrs=("0.0.0.0/0",), url="r.example.com"),
        registry_args("azure", images=(SERVING_IMAGE, SERVING_IMAGE, ImageSource("x", "no/Dockerfile"))),
    ]
    messages = []
    for args in wrong:
        with pytest.raises(InputError) as err:
            run_mocked(lambda args=args: ImageRegistry("r", args))
        messages += [str(p) for p in err.value.problems]
    assert messages == [
        "r.url: 'https://harbor/ml' — give the registry as host[:port][/path], without a scheme "
        "(registry.example.com/ml)",
        "r.region: on-prem registries have no cloud region; remove it",
        "r.url: on-prem only; cloud registries are created here",
        "r.push_cidrs: azure only: other registries authorize pushes by identity",
        "r.push_cidrs[0]: 0.0.0.0/0 — would open the registry to the internet",
        "r.pullers: required on azure: clusters pull through private endpoints in their networks",
        "r.images: ['aiinfra-serving', 'aiinfra-serving', 'x'] — repositories repeat",
        "r.images[2].dockerfile: no/Dockerfile — no such file",
    ]
