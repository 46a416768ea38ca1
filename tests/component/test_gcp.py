"""The GCP adapter under the plan's mock engine: through the provider-neutral `Cluster` (with the adapter
registered for gcp) and through `GkeCluster` directly, the way the facade drives it."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import replace

import pulumi
import pytest

import aiinfra.plan.outputs_gcp  # noqa: F401  (registers the GCP mock answers)
from aiinfra.core.catalog import Fabric, resolve
from aiinfra.core.errors import InputError
from components.cluster import Cluster
from components.common import Taint
from components.contracts import ClusterArgs, NodePoolArgs
from components.gcp.fabric import RDMA_MANIFESTS, TCPXO_MANIFESTS, load_manifest
from components.gcp.gke import GkeCluster
from components.gcp.network import Network, NetworkArgs
from components.kubernetes.fabric import RDMA_NETWORKS, TCPXO_NETWORKS, interfaces_annotation
from tests.conftest import of_type, one

REGION = "us-central1"
ZONES = ("us-central1-a", "us-central1-b", "us-central1-c")
STACK_TAGS = {"cost-center": "ml-platform", "owner": "platform@example.com"}
PROJECT = "aiinfra-offline"
NP = "gcp:container/nodePool:NodePool"
GKE = "gcp:container/cluster:Cluster"
NET = "gcp:compute/network:Network"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
FIREWALL = "gcp:compute/firewall:Firewall"
IAM = "gcp:projects/iAMMember:IAMMember"
DS = "kubernetes:apps/v1:DaemonSet"
PARAMS = "kubernetes:networking.gke.io/v1:GKENetworkParamSet"
GKE_NETWORK = "kubernetes:networking.gke.io/v1:Network"
K8S_PROVIDER = "pulumi:providers:kubernetes"


def pool(name: str = "gpu", accelerator: str = "H100:8", **kw) -> NodePoolArgs:
    defaults = {"max_nodes": 4, "zone": "us-central1-a" if accelerator in ("H100:8", "H200:8") else None}
    return NodePoolArgs(name=name, shape=resolve("gcp", accelerator), **{**defaults, **kw})


def tpu_pool(name: str, accelerator: str, **kw) -> NodePoolArgs:
    shape = resolve("gcp", accelerator)
    hosts = shape.tpu.hosts
    return NodePoolArgs(name=name, shape=shape, **{"min_nodes": hosts, "max_nodes": hosts, "zone": ZONES[0], **kw})


def system_pool() -> NodePoolArgs:
    return pool("system", "cpu", min_nodes=1, max_nodes=3)


def cluster_args(*pools: NodePoolArgs, **kw) -> ClusterArgs:
    return ClusterArgs(
        **{
            "cloud": "gcp",
            "region": REGION,
            "zones": ZONES,
            "kubernetes_version": "1.33",
            "node_pools": pools,
            "tags": STACK_TAGS,
            **kw,
        }
    )


def _through_adapter(args: ClusterArgs) -> GkeCluster:
    """What the facade does with an adapter: construct it, then build each pool under its own parent."""
    adapter = GkeCluster("c", args)
    for p in args.node_pools:
        adapter.build_node_pool(f"c-{p.name}", p, pulumi.ResourceOptions(parent=adapter))
    return adapter


@pytest.fixture
def plan(run_mocked, monkeypatch):
    """Plan a cluster named "c" through the `Cluster` facade with the given pools and cluster arguments."""
    return lambda *pools, **kw: run_mocked(lambda: Cluster("c", cluster_args(*pools, **kw)))


@pytest.fixture(params=["facade", "adapter"])
def plan_both(request, run_mocked, monkeypatch):
    """Like `plan`, once through the facade and once through `GkeCluster` directly."""
    if request.param == "facade":
        return lambda *pools, **kw: run_mocked(lambda: Cluster("c", cluster_args(*pools, **kw)))
    return lambda *pools, **kw: run_mocked(lambda: _through_adapter(cluster_args(*pools, **kw)))


def named(run, type_: str, name: str):
    found = [r for r in of_type(run, type_) if r.name == name]
    assert len(found) == 1, f"expected one {type_} named {name}, found {[r.name for r in of_type(run, type_)]}"
    return found[0]


def node_pool(run, name: str = "gpu") -> dict:
    return named(run, NP, f"c-{name}-np").inputs


def provider_of(run, resource) -> str:
    return resource.provider.split("::")[-2]


# ------------------------------------------------------------------ A3 Mega: GPUDirect-TCPXO


def test_a3_mega_nodes_get_eight_gpu_nics_each_on_its_own_vpc(plan_both):
    run = plan_both(pool())
    configs = node_pool(run)["networkConfig"]["additionalNodeNetworkConfigs"]
    vpcs = [named(run, NET, f"c-network-gpu{i}") for i in range(8)]
    subnets = [named(run, SUBNET, f"c-network-gpu{i}") for i in range(8)]
    assert configs == [
        {"network": vpc.outputs["name"], "subnetwork": subnet.outputs["name"]}
        for vpc, subnet in zip(vpcs, subnets, strict=True)
    ]
    assert len({c["network"] for c in configs}) == 8
    assert all(v.inputs["mtu"] == 8244 and v.inputs["autoCreateSubnetworks"] is False for v in vpcs)
    assert [s.inputs["network"] for s in subnets] == [v.id for v in vpcs]
    assert all(s.inputs["region"] == REGION for s in subnets)
    ranges = [ipaddress.ip_network(s.inputs["ipCidrRange"]) for s in subnets]
    nodes = ipaddress.ip_network("10.0.0.0/16")
    assert not any(a.overlaps(b) for i, a in enumerate(ranges) for b in ranges[i + 1 :])
    assert not any(r.overlaps(nodes) for r in ranges)
    assert len(of_type(run, NET)) == 9  # the node VPC and the eight GPU VPCs


def test_a3_mega_gpu_vpcs_allow_internal_gpu_traffic_only(plan):
    run = plan(pool())
    for i in range(8):
        rule = named(run, FIREWALL, f"c-network-gpu{i}-internal").inputs
        assert rule["network"] == named(run, NET, f"c-network-gpu{i}").id
        assert rule["direction"] == "INGRESS"
        assert rule["sourceRanges"] == ["192.168.0.0/16"]
        assert rule["allows"] == [{"protocol": "tcp"}, {"protocol": "udp"}, {"protocol": "icmp"}]


def test_a3_mega_pool_is_compact_in_one_zone_with_gvnic_driver_and_local_ssd(plan_both):
    run = plan_both(pool(max_nodes=4))
    nodes = node_pool(run)
    config = nodes["nodeConfig"]
    assert config["machineType"] == "a3-megagpu-8g"
    assert config["guestAccelerators"] == [
        {"type": "nvidia-h100-mega-80gb", "count": 8, "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"}}
    ]
    assert config["gvnic"] == {"enabled": True}
    assert config["ephemeralStorageLocalSsdConfig"] == {"localSsdCount": 16}
    assert nodes["placementPolicy"] == {"type": "COMPACT"}
    assert nodes["nodeLocations"] == ["us-central1-a"]
    assert nodes["autoscaling"] == {"minNodeCount": 0, "maxNodeCount": 4}
    assert nodes["upgradeSettings"] == {"maxSurge": 0, "maxUnavailable": 1}
    assert one(run, GKE).inputs["enableMultiNetworking"] is True


def test_a3_mega_nics_are_declared_to_gke_as_networks(plan_both):
    run = plan_both(pool())
    fabric_provider = named(run, K8S_PROVIDER, "c-fabric-k8s")
    for i, nic in enumerate(TCPXO_NETWORKS):
        params = named(run, PARAMS, f"c-nic-params-{nic}")
        assert params.inputs["metadata"] == {"name": nic}
        assert params.inputs["spec"] == {
            "vpc": named(run, NET, f"c-network-gpu{i}").outputs["name"],
            "vpcSubnet": named(run, SUBNET, f"c-network-gpu{i}").outputs["name"],
            "deviceMode": "NetDevice",
        }
        network = named(run, GKE_NETWORK, f"c-nic-{nic}")
        assert network.inputs["spec"] == {
            "type": "Device",
            "parametersRef": {"group": "networking.gke.io", "kind": "GKENetworkParamSet", "name": nic},
        }
        assert params.urn in network.dependencies
        assert provider_of(run, params) == provider_of(run, network) == fabric_provider.name
    assert len(of_type(run, PARAMS)) == 8


def test_pod_interfaces_annotation_names_the_networks_the_cluster_declares(plan):
    run = plan(pool())
    interfaces = json.loads(interfaces_annotation(Fabric.TCPXO))
    assert interfaces[0] == {"interfaceName": "eth0", "network": "default"}
    assert [i["interfaceName"] for i in interfaces[1:]] == [f"eth{n}" for n in range(1, 9)]
    assert [i["network"] for i in interfaces[1:]] == [r.inputs["metadata"]["name"] for r in of_type(run, GKE_NETWORK)]


def test_tcpxo_daemonsets_are_the_pinned_manifests_on_the_fabric_provider(plan, snapshot):
    run = plan(pool())
    sets = {r.name: r for r in of_type(run, DS)}
    assert sorted(sets) == ["c-device-injector", "c-nccl-tcpxo-installer"]
    fabric_provider = named(run, K8S_PROVIDER, "c-fabric-k8s")
    assert {provider_of(run, r) for r in sets.values()} == {fabric_provider.name}
    assert {name: r.inputs for name, r in sorted(sets.items())} == snapshot


def test_fabric_provider_connects_with_the_adapter_kubeconfig(plan):
    run = plan(pool())
    cluster = one(run, GKE)
    config = json.loads(named(run, K8S_PROVIDER, "c-fabric-k8s").inputs["kubeconfig"]["value"])
    assert config["clusters"][0]["cluster"]["server"] == f"https://{cluster.outputs['endpoint']}"
    assert named(run, K8S_PROVIDER, "c-fabric-k8s").inputs["enableServerSideApply"] in (True, "true")


@pytest.mark.parametrize("files", [TCPXO_MANIFESTS, RDMA_MANIFESTS])
def test_shipped_manifests_pin_every_image(files):
    for file in files:
        spec = load_manifest(file)["spec"]["template"]["spec"]
        images = [c["image"] for c in spec.get("initContainers", []) + spec["containers"]]
        assert images
        for image in images:
            name = image.split("@")[0].rsplit("/", 1)[-1]
            assert "@sha256:" in image or (":" in name and not name.endswith(":latest")), image


def test_two_tcpxo_pools_share_one_set_of_gpu_networks(plan):
    run = plan(pool("a"), pool("b"))
    assert len(of_type(run, NET)) == 9
    assert len(of_type(run, PARAMS)) == 8
    assert len(of_type(run, DS)) == 2
    a, b = node_pool(run, "a"), node_pool(run, "b")
    assert a["networkConfig"] == b["networkConfig"]


# ------------------------------------------------------------------ A3 Ultra: GPUDirect-RDMA


def test_a3_ultra_uses_a_roce_vpc_with_a_subnet_per_nic(plan_both):
    run = plan_both(pool("ultra", "H200:8", zone="us-central1-b"))
    rdma = named(run, NET, "c-network-rdma")
    assert rdma.inputs["networkProfile"] == f"projects/{PROJECT}/global/networkProfiles/us-central1-b-vpc-roce"
    assert rdma.inputs["mtu"] == 8896
    assert rdma.inputs["autoCreateSubnetworks"] is False
    subnets = [named(run, SUBNET, f"c-network-rdma{i}") for i in range(8)]
    assert {s.inputs["network"] for s in subnets} == {rdma.id}
    assert not [f for f in of_type(run, FIREWALL) if f.inputs["network"] == rdma.id]
    gvnic = named(run, NET, "c-network-gvnic1")
    assert gvnic.inputs["mtu"] == 8896
    assert "networkProfile" not in gvnic.inputs
    configs = node_pool(run, "ultra")["networkConfig"]["additionalNodeNetworkConfigs"]
    assert configs == [
        {"network": gvnic.outputs["name"], "subnetwork": named(run, SUBNET, "c-network-gvnic1").outputs["name"]}
    ] + [{"network": rdma.outputs["name"], "subnetwork": s.outputs["name"]} for s in subnets]
    # No TCPXO networks on an RDMA-only cluster.
    assert not [n for n in of_type(run, NET) if n.name.startswith("c-network-gpu")]


def test_a3_ultra_pool_settings(plan):
    run = plan(pool("ultra", "H200:8"))
    nodes = node_pool(run, "ultra")
    config = nodes["nodeConfig"]
    assert config["machineType"] == "a3-ultragpu-8g"
    assert config["guestAccelerators"][0]["type"] == "nvidia-h200-141gb"
    assert config["guestAccelerators"][0]["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "LATEST"}
    assert config["ephemeralStorageLocalSsdConfig"] == {"localSsdCount": 32}
    assert nodes["placementPolicy"] == {"type": "COMPACT"}
    assert config["labels"]["aiinfra.dev/fabric"] == "rdma"


def test_a3_ultra_nics_are_declared_to_gke_with_rdma_device_mode(plan):
    run = plan(pool("ultra", "H200:8"))
    modes = {r.inputs["metadata"]["name"]: r.inputs["spec"]["deviceMode"] for r in of_type(run, PARAMS)}
    assert modes == {"gvnic-1": "NetDevice", **{f"rdma-{i}": "RDMA" for i in range(8)}}
    assert tuple(modes) == RDMA_NETWORKS
    assert [i["network"] for i in json.loads(interfaces_annotation(Fabric.RDMA))[1:]] == list(RDMA_NETWORKS)
    assert sorted(r.name for r in of_type(run, DS)) == ["c-nccl-rdma-installer"]


# ------------------------------------------------------------------ clusters without NIC fabrics


@pytest.mark.parametrize(
    "pools",
    [
        (pool("l4", "L4:1"),),
        (pool("a3high", "H100:1"),),
        (tpu_pool("v5p", "TPU-v5p:2x2x2"),),
    ],
    ids=["l4", "a3-high", "tpu"],
)
def test_no_fabric_plumbing_without_fabric_pools(plan, pools):
    run = plan(*pools, system_pool())
    assert one(run, GKE).inputs["enableMultiNetworking"] is False
    assert [n.name for n in of_type(run, NET)] == ["c-network-vpc"]
    assert of_type(run, PARAMS) == of_type(run, GKE_NETWORK) == of_type(run, DS) == []
    assert [p.name for p in of_type(run, K8S_PROVIDER)] == ["c-k8s"]  # the facade's, not the adapter's
    assert all("networkConfig" not in p.inputs for p in of_type(run, NP))


# ------------------------------------------------------------------ TPU slices


@pytest.mark.parametrize(
    ("accelerator", "machine", "hosts", "placement"),
    [
        ("TPU-v5p:2x2x2", "ct5p-hightpu-4t", 2, {"type": "COMPACT", "tpuTopology": "2x2x2"}),
        ("TPU-v5p:2x4x4", "ct5p-hightpu-4t", 8, {"type": "COMPACT", "tpuTopology": "2x4x4"}),
        ("TPU-v6e:4x4", "ct6e-standard-4t", 4, {"type": "COMPACT", "tpuTopology": "4x4"}),
        ("TPU-v6e:2x4", "ct6e-standard-8t", 1, None),
    ],
)
def test_tpu_slice_node_count_and_placement_follow_the_topology(plan_both, accelerator, machine, hosts, placement):
    run = plan_both(tpu_pool("tpu", accelerator))
    nodes = node_pool(run, "tpu")
    assert nodes["nodeConfig"]["machineType"] == machine
    assert nodes["nodeCount"] == hosts
    assert "autoscaling" not in nodes
    assert nodes.get("placementPolicy") == placement
    assert nodes["nodeLocations"] == [ZONES[0]]
    assert nodes["nodeConfig"]["taints"] == [{"key": "google.com/tpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert "guestAccelerators" not in nodes["nodeConfig"]


def test_tpu_slice_scales_as_a_whole_from_zero(plan):
    run = plan(tpu_pool("v5p", "TPU-v5p:2x2x2", min_nodes=0, capacity_type="spot"))
    nodes = node_pool(run, "v5p")
    assert nodes["autoscaling"] == {"minNodeCount": 0, "maxNodeCount": 2}
    assert nodes["initialNodeCount"] == 0
    assert "nodeCount" not in nodes
    assert nodes["nodeConfig"]["spot"] is True
    assert nodes["placementPolicy"] == {"type": "COMPACT", "tpuTopology": "2x2x2"}


def test_multislice_is_one_node_pool_per_slice(plan):
    run = plan(tpu_pool("slice0", "TPU-v5p:2x2x2"), tpu_pool("slice1", "TPU-v5p:2x2x2"))
    pools = {p.name: p.inputs for p in of_type(run, NP)}
    assert sorted(pools) == ["c-slice0-np", "c-slice1-np"]
    assert all(p["nodeCount"] == 2 and p["placementPolicy"]["tpuTopology"] == "2x2x2" for p in pools.values())


def test_tpu_slice_consumes_its_reservation_and_keeps_its_topology(plan):
    run = plan(tpu_pool("v5p", "TPU-v5p:2x2x2", capacity_type="reservation", reservation_id="v5p-res"))
    nodes = node_pool(run, "v5p")
    assert nodes["nodeConfig"]["reservationAffinity"] == {
        "consumeReservationType": "SPECIFIC_RESERVATION",
        "key": "compute.googleapis.com/reservation-name",
        "values": ["v5p-res"],
    }
    assert nodes["placementPolicy"] == {"type": "COMPACT", "tpuTopology": "2x2x2"}


# ------------------------------------------------------------------ GPU pools in general


def test_reservation_pool_targets_its_reservation_without_compact_placement(plan):
    run = plan(pool(capacity_type="reservation", reservation_id="a3-mega-res", zone="us-central1-c"))
    nodes = node_pool(run)
    assert nodes["nodeConfig"]["reservationAffinity"] == {
        "consumeReservationType": "SPECIFIC_RESERVATION",
        "key": "compute.googleapis.com/reservation-name",
        "values": ["a3-mega-res"],
    }
    assert "placementPolicy" not in nodes
    assert "spot" not in nodes["nodeConfig"]
    assert nodes["nodeLocations"] == ["us-central1-c"]


def test_spot_pool_uses_spot_vms_and_no_reservation(plan):
    run = plan(pool(capacity_type="spot"))
    config = node_pool(run)["nodeConfig"]
    assert config["spot"] is True
    assert "reservationAffinity" not in config


def test_small_gpu_pool_spreads_over_the_cluster_zones(plan):
    run = plan(pool("l4", "L4:1", min_nodes=2, max_nodes=6))
    nodes = node_pool(run, "l4")
    assert nodes["nodeLocations"] == list(ZONES)
    assert nodes["autoscaling"] == {"totalMinNodeCount": 2, "totalMaxNodeCount": 6}
    assert nodes["initialNodeCount"] == 1  # per zone
    assert "placementPolicy" not in nodes
    assert nodes["nodeConfig"]["guestAccelerators"] == [
        {"type": "nvidia-l4", "count": 1, "gpuDriverInstallationConfig": {"gpuDriverVersion": "DEFAULT"}}
    ]
    assert nodes["nodeConfig"]["ephemeralStorageLocalSsdConfig"] == {"localSsdCount": 1}
    assert nodes["upgradeSettings"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_gpu_pools_are_tainted_and_labelled(plan):
    run = plan(pool(labels={"team": "vision"}, taints=(Taint("dedicated", "vision", "NoExecute"),)), system_pool())
    gpu = node_pool(run)["nodeConfig"]
    assert gpu["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"},
        {"key": "dedicated", "value": "vision", "effect": "NO_EXECUTE"},
    ]
    assert gpu["labels"] == {
        "aiinfra.dev/pool": "gpu",
        "aiinfra.dev/accelerator": "H100",
        "aiinfra.dev/fabric": "tcpxo",
        "team": "vision",
    }
    system = node_pool(run, "system")["nodeConfig"]
    assert system["taints"] == []
    assert "guestAccelerators" not in system


def test_every_node_is_shielded_uses_the_metadata_server_and_the_node_account(plan):
    run = plan(pool(), pool("ultra", "H200:8"), tpu_pool("v6e", "TPU-v6e:4x4"), system_pool())
    email = one(run, "gcp:serviceaccount/account:Account").outputs["email"]
    configs = [p.inputs["nodeConfig"] for p in of_type(run, NP)] + [one(run, GKE).inputs["nodeConfig"]]
    assert len(configs) == 5
    for config in configs:
        assert config["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
        assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        assert config["serviceAccount"] == email
        assert config["oauthScopes"] == ["https://www.googleapis.com/auth/cloud-platform"]
    for p in of_type(run, NP):
        assert p.inputs["nodeConfig"]["imageType"] == "COS_CONTAINERD"
        assert p.inputs["nodeConfig"]["metadata"] == {"disable-legacy-endpoints": "true"}
        assert p.inputs["management"] == {"autoRepair": True, "autoUpgrade": True}
        assert p.inputs["cluster"] == one(run, GKE).id


# ------------------------------------------------------------------ control plane


def test_cluster_is_private_standard_with_workload_identity_and_dataplane_v2(plan):
    run = plan(system_pool())
    gke = one(run, GKE).inputs
    assert gke["privateClusterConfig"] == {"enablePrivateNodes": True, "enablePrivateEndpoint": True}
    assert gke["masterAuthorizedNetworksConfig"]["cidrBlocks"] == []
    assert gke["masterAuthorizedNetworksConfig"]["gcpPublicCidrsAccessEnabled"] is False
    assert gke["workloadIdentityConfig"] == {"workloadPool": f"{PROJECT}.svc.id.goog"}
    assert gke["datapathProvider"] == "ADVANCED_DATAPATH"
    assert gke["networkingMode"] == "VPC_NATIVE"
    assert gke["releaseChannel"] == {"channel": "REGULAR"}
    assert gke["minMasterVersion"] == "1.33"
    assert gke["enableShieldedNodes"] is True
    assert gke["enableLegacyAbac"] is False
    assert gke["masterAuth"] == {"clientCertificateConfig": {"issueClientCertificate": False}}
    assert gke["removeDefaultNodePool"] is True
    assert gke["deletionProtection"] is False  # not a production stack: `pulumi destroy` works
    assert gke["location"] == REGION
    assert gke["nodeLocations"] == list(ZONES)


def test_production_clusters_refuse_deletion(plan):
    gke = one(plan(system_pool(), protect_stateful=True), GKE).inputs
    assert gke["deletionProtection"] is True


def test_public_endpoint_only_for_the_given_cidrs(plan):
    run = plan(system_pool(), public_access_cidrs=("203.0.113.0/24", "198.51.100.7/32"))
    gke = one(run, GKE).inputs
    assert gke["privateClusterConfig"] == {"enablePrivateNodes": True, "enablePrivateEndpoint": False}
    assert [b["cidrBlock"] for b in gke["masterAuthorizedNetworksConfig"]["cidrBlocks"]] == [
        "203.0.113.0/24",
        "198.51.100.7/32",
    ]


def test_secrets_are_encrypted_with_a_rotated_kms_key_gke_may_use(plan):
    run = plan(system_pool())
    ring = one(run, "gcp:kms/keyRing:KeyRing")
    key = one(run, "gcp:kms/cryptoKey:CryptoKey")
    assert ring.inputs["location"] == REGION
    assert key.inputs["keyRing"] == ring.id
    assert key.inputs["purpose"] == "ENCRYPT_DECRYPT"
    rotation = int(key.inputs["rotationPeriod"].removesuffix("s"))
    assert 0 < rotation <= 90 * 86400
    gke = one(run, GKE)
    assert gke.inputs["databaseEncryption"] == {"state": "ENCRYPTED", "keyName": key.id}
    grant = one(run, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    assert grant.inputs["cryptoKeyId"] == key.id
    assert grant.inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert (
        grant.inputs["member"] == "serviceAccount:service-123456789012@container-engine-robot.iam.gserviceaccount.com"
    )
    assert grant.urn in gke.dependencies


def test_node_service_account_has_only_logging_and_monitoring_on_the_project(plan):
    """Image pulls are granted on the stack's registry repository alone (tests/component/test_registry.py)."""
    run = plan(system_pool())
    account = one(run, "gcp:serviceaccount/account:Account")
    grants = of_type(run, IAM)
    assert sorted(g.inputs["role"] for g in grants) == [
        "roles/logging.logWriter",
        "roles/monitoring.metricWriter",
        "roles/monitoring.viewer",
    ]
    assert {g.inputs["member"] for g in grants} == {account.outputs["member"]}
    assert {g.inputs["project"] for g in grants} == {PROJECT}
    assert 6 <= len(account.inputs["accountId"]) <= 30


def test_kubeconfig_authenticates_with_the_gke_auth_plugin(plan):
    run = plan(system_pool())
    cluster = one(run, GKE)
    config = json.loads(named(run, K8S_PROVIDER, "c-k8s").inputs["kubeconfig"]["value"])
    assert config["clusters"][0]["cluster"] == {
        "server": f"https://{cluster.outputs['endpoint']}",
        "certificate-authority-data": cluster.outputs["masterAuth"]["clusterCaCertificate"],
    }
    user = config["users"][0]["user"]["exec"]
    assert user["command"] == "gke-gcloud-auth-plugin"
    assert user["apiVersion"] == "client.authentication.k8s.io/v1beta1"


def test_every_gcp_resource_uses_the_regional_provider_with_stack_labels(plan):
    run = plan(pool(), tpu_pool("v5p", "TPU-v5p:2x2x2"), system_pool())
    provider = one(run, "pulumi:providers:gcp")
    assert provider.inputs["region"] == REGION
    labels = provider.inputs["defaultLabels"]
    labels = json.loads(labels) if isinstance(labels, str) else labels
    assert labels == {
        "managed-by": "aiinfra",
        "cost-center": "ml-platform",
        "owner": "platform_example_com",
        "aiinfra-cluster": "c",
    }
    assert {provider_of(run, r) for r in run.resources if r.type.startswith("gcp:")} == {provider.name}
    assert one(run, GKE).inputs["resourceLabels"] == labels
    assert one(run, "gcp:kms/cryptoKey:CryptoKey").inputs["labels"] == labels
    for p in of_type(run, NP):
        assert p.inputs["nodeConfig"]["resourceLabels"] == {**labels, "aiinfra-pool": p.name[2:-3]}


def test_every_gcp_argument_name_is_known_to_the_sdk(plan):
    """The mock engine accepts any property; the SDK translates the names it knows to camelCase and passes
    unknown ones through as written, so a snake_case key in a recorded input is a misspelt argument."""
    run = plan(
        pool(capacity_type="reservation", reservation_id="r"),
        pool("ultra", "H200:8", capacity_type="spot"),
        tpu_pool("v5p", "TPU-v5p:2x2x2", min_nodes=0),
        system_pool(),
        public_access_cidrs=("203.0.113.0/24",),
    )
    free_form = {"labels", "resourceLabels", "metadata", "defaultLabels"}

    def unknown(value, path: str) -> list[str]:
        if isinstance(value, list):
            return [bad for item in value for bad in unknown(item, path)]
        if not isinstance(value, dict):
            return []
        found = [f"{path}.{key}" for key in value if "_" in key]
        return found + [bad for k, v in value.items() if k not in free_form for bad in unknown(v, f"{path}.{k}")]

    resources = [r for r in run.resources if r.type.startswith(("gcp:", "pulumi:providers:gcp"))]
    assert len(resources) > 40
    assert [bad for r in resources for bad in unknown(r.inputs, r.name)] == []


# ------------------------------------------------------------------ node network


def test_new_network_has_pod_and_service_ranges_nat_and_private_google_access(plan):
    run = plan(system_pool())
    vpc = named(run, NET, "c-network-vpc")
    assert vpc.inputs["autoCreateSubnetworks"] is False
    subnet = named(run, SUBNET, "c-network-nodes")
    assert subnet.inputs["network"] == vpc.id
    assert subnet.inputs["ipCidrRange"] == "10.0.0.0/18"
    assert subnet.inputs["secondaryIpRanges"] == [
        {"rangeName": "pods", "ipCidrRange": "10.0.128.0/17"},
        {"rangeName": "services", "ipCidrRange": "10.0.64.0/18"},
    ]
    assert subnet.inputs["privateIpGoogleAccess"] is True
    assert subnet.inputs["logConfig"]["metadata"] == "INCLUDE_ALL_METADATA"
    router = one(run, "gcp:compute/router:Router")
    assert router.inputs["network"] == vpc.id
    nat = one(run, "gcp:compute/routerNat:RouterNat").inputs
    assert nat["router"] == router.outputs["name"]
    assert nat["sourceSubnetworkIpRangesToNat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
    assert nat["natIpAllocateOption"] == "AUTO_ONLY"
    gke = one(run, GKE).inputs
    assert (gke["network"], gke["subnetwork"]) == (vpc.outputs["selfLink"], subnet.outputs["selfLink"])
    assert gke["ipAllocationPolicy"] == {"clusterSecondaryRangeName": "pods", "servicesSecondaryRangeName": "services"}


EXISTING_VPC = f"projects/{PROJECT}/global/networks/shared"
EXISTING_SUBNET = f"projects/{PROJECT}/regions/{REGION}/subnetworks/gke-nodes"


def test_existing_network_is_used_as_is(plan):
    run = plan(system_pool(), vpc_id=EXISTING_VPC, subnet_ids=(EXISTING_SUBNET,))
    for type_ in (NET, SUBNET, "gcp:compute/router:Router", "gcp:compute/routerNat:RouterNat", "aiinfra:gcp:Network"):
        assert of_type(run, type_) == []
    gke = one(run, GKE).inputs
    assert (gke["network"], gke["subnetwork"]) == (EXISTING_VPC, EXISTING_SUBNET)
    assert gke["ipAllocationPolicy"] == {"stackType": "IPV4"}


def test_existing_network_still_gets_the_gpu_networks_it_needs(plan):
    run = plan(pool(), vpc_id=EXISTING_VPC, subnet_ids=(EXISTING_SUBNET,))
    assert sorted(n.name for n in of_type(run, NET)) == [f"c-network-gpu{i}" for i in range(8)]
    assert of_type(run, "gcp:compute/routerNat:RouterNat") == []
    assert one(run, GKE).inputs["network"] == EXISTING_VPC
    assert len(node_pool(run)["networkConfig"]["additionalNodeNetworkConfigs"]) == 8


def test_standalone_network_makes_only_the_gpu_networks_asked_for(run_mocked):
    run = run_mocked(lambda: Network("n", NetworkArgs(region=REGION, tcpxo_networks=2, project="p")))
    assert sorted(n.name for n in of_type(run, NET)) == ["n-gpu0", "n-gpu1", "n-vpc"]


@pytest.mark.parametrize(
    ("network_kw", "path"),
    [
        ({"gpu_cidr": "10.0.0.0/16", "tcpxo_networks": 8}, "n.gpu_cidr"),
        ({"tcpxo_networks": 9}, "n.tcpxo_networks"),
        ({"rdma_zone": "europe-west4-a"}, "n.rdma_zone"),
        ({"network": EXISTING_VPC}, "n.subnetwork"),
        ({"cidr": "10.0.0.0/24"}, "n.cidr"),
    ],
)
def test_network_problems_are_input_errors(run_mocked, network_kw, path):
    with pytest.raises(InputError) as err:
        run_mocked(lambda: Network("n", NetworkArgs(**{"region": REGION, **network_kw})))
    assert [p.path for p in err.value.problems] == [path]


def test_zones_default_to_the_first_three_the_region_reports(run_mocked, monkeypatch):
    run = run_mocked(lambda: Cluster("c", cluster_args(system_pool(), zones=())))
    assert one(run, GKE).inputs["nodeLocations"] == list(ZONES)
    assert node_pool(run, "system")["nodeLocations"] == list(ZONES)


def test_warns_when_system_pods_have_nowhere_to_run(plan):
    warnings = [d.message for d in plan(pool()).diagnostics if d.severity == "warning"]
    assert any("no untainted CPU pool" in w for w in warnings)
    assert not [d for d in plan(pool(), system_pool()).diagnostics if d.severity == "warning"]


def test_node_pools_sit_under_the_facade_pools_with_the_gcp_provider(plan):
    run = plan(pool())
    facade_pool = named(run, "aiinfra:index:NodePool", "c-gpu")
    gke_pool = named(run, "aiinfra:gcp:GkeNodePool", "c-gpu")
    assert gke_pool.parent == facade_pool.urn
    assert named(run, NP, "c-gpu-np").parent == gke_pool.urn
    assert provider_of(run, named(run, NP, "c-gpu-np")) == one(run, "pulumi:providers:gcp").name


# ------------------------------------------------------------------ errors

H100_1 = resolve("gcp", "H100:1")
H100_8 = resolve("gcp", "H100:8")
V5P = resolve("gcp", "TPU-v5p:2x2x2")


@pytest.mark.parametrize(
    ("pool_args", "path", "words"),
    [
        (
            NodePoolArgs(name="gpu", shape=replace(H100_1, fabric=Fabric.TCPXO), max_nodes=2, zone=ZONES[0]),
            "c.node_pools.gpu.fabric",
            "a3-highgpu-1g has no GPU NIC fabric; tcpxo needs a3-megagpu-8g",
        ),
        (
            NodePoolArgs(name="gpu", shape=replace(H100_8, fabric=Fabric.RDMA), max_nodes=2, zone=ZONES[0]),
            "c.node_pools.gpu.fabric",
            "a3-megagpu-8g has tcpxo; rdma needs a3-ultragpu-8g",
        ),
        (
            NodePoolArgs(name="gpu", shape=replace(H100_8, fabric_interfaces=4), max_nodes=2, zone=ZONES[0]),
            "c.node_pools.gpu.fabric_interfaces",
            "too few extra networks",
        ),
        (
            NodePoolArgs(name="gpu", shape=replace(H100_8, fabric=Fabric.EFA), max_nodes=2, zone=ZONES[0]),
            "c.node_pools.gpu.fabric",
            "not a GKE fabric",
        ),
        (pool(capacity_type="spot", reservation_id="res-1"), "c.node_pools.gpu.reservation_id", "spot VMs cannot"),
        (pool(capacity_type="reservation"), "c.node_pools.gpu.reservation_id", "required"),
        (pool(reservation_id="res-1"), "c.node_pools.gpu.reservation_id", "only reservation and capacity-block"),
        (pool(capacity_type="preemptible"), "c.node_pools.gpu.capacity_type", "choose one of"),
        (pool(zone="europe-west4-a"), "c.node_pools.gpu.zone", "not a zone of us-central1"),
        (pool(taints=(Taint("a", "b", "NoFly"),)), "c.node_pools.gpu.taints[0].effect", "choose one of"),
        (
            NodePoolArgs(
                name="v5p",
                shape=replace(V5P, tpu=replace(V5P.tpu, topology="3x3x3")),
                min_nodes=2,
                max_nodes=2,
                zone=ZONES[0],
            ),
            "c.node_pools.v5p.shape.tpu.topology",
            "valid: 2x2x1, 2x2x2, 2x2x4",
        ),
        (tpu_pool("v5p", "TPU-v5p:2x2x2", min_nodes=1, max_nodes=4), "c.node_pools.v5p.max_nodes", "scale together"),
    ],
    ids=[
        "tcpxo-without-tcpxo",
        "rdma-on-tcpxo-machine",
        "too-few-networks",
        "efa-on-gcp",
        "spot-with-reservation",
        "reservation-without-name",
        "on-demand-with-reservation",
        "capacity-type",
        "zone-outside-region",
        "taint-effect",
        "tpu-topology",
        "tpu-node-count",
    ],
)
def test_pool_problems_are_input_errors_with_paths(plan_both, pool_args, path, words):
    with pytest.raises(InputError) as err:
        plan_both(pool_args)
    (problem,) = err.value.problems
    assert problem.path == path
    assert words in problem.message


@pytest.mark.parametrize(
    ("pool_args", "words"),
    [
        (tpu_pool("gpu", "TPU-v5p:2x2x2", zone=None), "TPU slices live in one zone"),
        (pool(zone=None), "tcpxo nodes live in one zone"),
        (pool("gpu", "H200:8", zone=None), "rdma nodes live in one zone"),
        (pool("gpu", "L4:1", capacity_type="reservation", reservation_id="r"), "reservations live in one zone"),
    ],
    ids=["tpu", "tcpxo", "rdma", "reservation"],
)
def test_pools_that_need_one_zone_fail_without_one(plan_both, pool_args, words):
    with pytest.raises(InputError) as err:
        plan_both(pool_args, zones=())
    assert [(p.path, words in p.message) for p in err.value.problems] == [("c.node_pools.gpu.zone", True)]


def test_pools_that_need_one_zone_take_the_cluster_first_zone(plan):
    run = plan(pool(zone=None), tpu_pool("v5p", "TPU-v5p:2x2x2", zone=None))
    assert node_pool(run)["nodeLocations"] == node_pool(run, "v5p")["nodeLocations"] == [ZONES[0]]


@pytest.mark.parametrize(
    ("cluster_kw", "path", "words"),
    [
        ({"region": None}, "c.region", "required"),
        ({"zones": ("us-central1-a", "europe-west4-b")}, "c.zones", "'europe-west4-b' — not a zone of us-central1"),
        ({"network_cidr": "192.168.0.0/16"}, "c.network_cidr", "overlaps 192.168.0.0/16"),
        ({"network_cidr": "10.0.0.0/24"}, "c.network_cidr", "from /8 to /20"),
        ({"vpc_id": EXISTING_VPC, "subnet_ids": ("a", "b")}, "c.subnet_ids", "give exactly one"),
    ],
)
def test_cluster_problems_are_input_errors_with_paths(plan_both, cluster_kw, path, words):
    with pytest.raises(InputError) as err:
        plan_both(system_pool(), **cluster_kw)
    (problem,) = err.value.problems
    assert (problem.path, words in problem.message) == (path, True)


def test_rdma_pools_must_share_the_zone_of_their_roce_network(plan):
    with pytest.raises(InputError) as err:
        plan(pool("a", "H200:8", zone="us-central1-a"), pool("b", "H200:8", zone="us-central1-b"))
    assert [p.path for p in err.value.problems] == ["c.node_pools"]
    assert "RoCE network is zonal" in err.value.problems[0].message


def test_all_problems_are_raised_together_before_anything_is_registered(run_mocked):
    args = cluster_args(
        NodePoolArgs(name="a", shape=replace(H100_1, fabric=Fabric.TCPXO), max_nodes=2, zone=ZONES[0]),
        pool("b", capacity_type="spot", reservation_id="r"),
        tpu_pool("c", "TPU-v5p:2x2x2", zone=None),
        zones=(),
    )
    caught: list[InputError] = []

    def program():
        try:
            GkeCluster("c", args)
        except InputError as err:
            caught.append(err)

    run = run_mocked(program)
    assert [p.path for p in caught[0].problems] == [
        "c.node_pools.a.fabric",
        "c.node_pools.b.reservation_id",
        "c.node_pools.c.zone",
    ]
    assert [r.type for r in run.resources] == ["pulumi:pulumi:Stack"]
