"""The Azure adapter (`components.azure.aks.AksCluster`) under the plan's mock engine."""

from __future__ import annotations

import dataclasses
import json
import subprocess

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

import aiinfra.plan.outputs_azure  # noqa: F401  (registers the Azure mock answers)
from aiinfra.core.catalog import Fabric, resolve
from aiinfra.core.errors import InputError
from aiinfra.plan.engine import RecordingMonitor, run_function
from aiinfra.plan.mock_registry import AZURE_SUBSCRIPTION
from aiinfra.plan.mocks import PlanMocks
from aiinfra.plan.outputs_azure import DEPLOYER_OBJECT_ID, TENANT_ID
from components.azure.aks import AksCluster
from components.azure.network import SubnetPlan, plan_subnets
from components.azure.roles import ROLES
from components.azure.software import raid0_script
from components.cluster import Cluster
from components.common import Taint
from components.contracts import SYSTEM_NAMESPACE, ClusterArgs, NodePoolArgs
from tests.conftest import of_type, one
from tests.k8s_schema import assert_valid, manifests

STACK_TAGS = {"cost-center": "ml-platform"}
AKS = "azure-native:containerservice:ManagedCluster"
POOL = "azure-native:containerservice:AgentPool"
ROLE = "azure-native:authorization:RoleAssignment"
VNET = "azure-native:network:VirtualNetwork"
KEY = "azure-native:keyvault:Key"
VAULT = "azure-native:keyvault:Vault"
DES = "azure-native:compute:DiskEncryptionSet"
RELEASE = "kubernetes:helm.sh/v3:Release"
NIC_POLICY = "kubernetes:mellanox.com/v1alpha1:NicClusterPolicy"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
TAGGABLE = (
    "azure-native:resources:ResourceGroup",
    VNET,
    "azure-native:network:PublicIPAddress",
    "azure-native:network:NatGateway",
    "azure-native:managedidentity:UserAssignedIdentity",
    VAULT,
    KEY,
    DES,
    "azure-native:operationalinsights:Workspace",
    AKS,
    POOL,
)


def pool(name: str = "h100", accelerator: str = "H100:8", **kw) -> NodePoolArgs:
    return NodePoolArgs(name=name, shape=resolve("azure", accelerator), **{"max_nodes": 4, **kw})


def cluster_args(*pools: NodePoolArgs, **kw) -> ClusterArgs:
    return ClusterArgs(
        **{
            "cloud": "azure",
            "region": "eastus",
            "kubernetes_version": "1.33",
            "node_pools": pools,
            "tags": STACK_TAGS,
            **kw,
        }
    )


def build(args: ClusterArgs) -> AksCluster:
    """What the facade does: the adapter, each pool under its own parent, then the node software through a
    Kubernetes provider made from the adapter's kubeconfig, next to aiinfra's namespace."""
    adapter = AksCluster("c", args)
    for p in args.node_pools:
        adapter.build_node_pool(f"c-{p.name}", p, pulumi.ResourceOptions(parent=adapter))
    provider = k8s.Provider("c-k8s", kubeconfig=adapter.kubeconfig)
    namespace = k8s.core.v1.Namespace(
        "c-system", metadata={"name": SYSTEM_NAMESPACE}, opts=pulumi.ResourceOptions(provider=provider)
    )
    adapter.build_node_software(provider, namespace)
    return adapter


_RUNS: dict[str, object] = {}


@pytest.fixture
def plan(run_mocked):
    """Plan the adapter with these pools and cluster arguments. Tests only read a run, so identical plans are
    made once per module (each costs most of a second: azure-native resources carry many aliases)."""

    def planned(*pools: NodePoolArgs, **kw):
        key = repr((pools, sorted(kw.items())))
        if key not in _RUNS:
            _RUNS[key] = run_mocked(lambda: build(cluster_args(*pools, **kw)))
        return _RUNS[key]

    return planned


def named(run, type_: str, name: str):
    found = [r for r in of_type(run, type_) if r.name == name]
    assert len(found) == 1, f"expected one {type_} named {name}, found {[r.name for r in of_type(run, type_)]}"
    return found[0]


def subnet_id(run, subnet: str) -> str:
    (created,) = [s for s in one(run, VNET).outputs["subnets"] if s["name"] == subnet]
    return created["id"]


def role_id(role: str) -> str:
    return f"/subscriptions/{AZURE_SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{ROLES[role]}"


def release(run, chart: str):
    found = [r for r in of_type(run, RELEASE) if r.inputs["chart"] == chart]
    assert len(found) == 1, f"expected one {chart} release, found {len(found)}"
    return found[0]


# ------------------------------------------------------------------ control plane


def test_api_server_is_private_and_vnet_integrated_by_default(plan):
    run = plan()
    access = one(run, AKS).inputs["apiServerAccessProfile"]
    assert access["enablePrivateCluster"] is True
    assert access["enablePrivateClusterPublicFQDN"] is False
    assert "authorizedIPRanges" not in access
    assert access["enableVnetIntegration"] is True
    assert access["subnetId"] == subnet_id(run, "api-server")
    adapter = one(run, "aiinfra:azure:AksCluster").outputs
    assert adapter["endpoint"] == f"https://{one(run, AKS).outputs['privateFQDN']}:443"


def test_api_server_is_public_only_to_the_given_ranges(plan):
    run = plan(public_access_cidrs=("198.51.100.0/24",))
    access = one(run, AKS).inputs["apiServerAccessProfile"]
    assert access["enablePrivateCluster"] is False
    assert access["authorizedIPRanges"] == ["198.51.100.0/24"]
    assert one(run, "aiinfra:azure:AksCluster").outputs["endpoint"] == f"https://{one(run, AKS).outputs['fqdn']}:443"


def test_access_is_entra_id_with_azure_rbac_and_no_local_accounts(plan):
    run = plan()
    cluster = one(run, AKS)
    assert cluster.inputs["disableLocalAccounts"] is True
    assert cluster.inputs["enableRBAC"] is True
    assert cluster.inputs["aadProfile"] == {"managed": True, "enableAzureRBAC": True, "tenantID": TENANT_ID}
    admin = named(run, ROLE, "c-deployer-admin").inputs
    assert admin["roleDefinitionId"] == role_id("Azure Kubernetes Service RBAC Cluster Admin")
    assert admin["scope"] == cluster.id
    assert admin["principalId"] == DEPLOYER_OBJECT_ID


def test_oidc_issuer_and_workload_identity_are_on(plan):
    run = plan()
    cluster = one(run, AKS)
    assert cluster.inputs["oidcIssuerProfile"] == {"enabled": True}
    assert cluster.inputs["securityProfile"]["workloadIdentity"] == {"enabled": True}
    issuer = cluster.outputs["oidcIssuerProfile"]["issuerURL"]
    assert one(run, "aiinfra:azure:AksCluster").outputs["oidcIssuerUrl"] == issuer


def test_network_is_cilium_overlay_with_network_policy_behind_a_nat_gateway(plan):
    run = plan()
    assert one(run, AKS).inputs["networkProfile"] == {
        "networkPlugin": "azure",
        "networkPluginMode": "overlay",
        "networkDataplane": "cilium",
        "networkPolicy": "cilium",
        "outboundType": "userAssignedNATGateway",
        "loadBalancerSku": "standard",
        "podCidr": "10.244.0.0/16",
        "serviceCidr": "172.16.0.0/16",
        "dnsServiceIP": "172.16.0.10",
    }
    nat = one(run, "azure-native:network:NatGateway")
    assert nat.inputs["publicIpAddresses"] == [{"id": one(run, "azure-native:network:PublicIPAddress").id}]
    vnet = one(run, VNET)
    assert vnet.inputs["addressSpace"] == {"addressPrefixes": ["10.0.0.0/16"]}
    subnets = {s["name"]: s for s in vnet.inputs["subnets"]}
    assert subnets["nodes"]["natGateway"] == {"id": nat.id}
    assert all(s["defaultOutboundAccess"] is False for s in subnets.values())
    assert {k: s["addressPrefix"] for k, s in subnets.items()} == {
        "nodes": "10.0.0.0/18",
        "private-endpoints": "10.0.64.0/24",
        "api-server": "10.0.128.0/28",
    }
    assert subnets["api-server"]["delegations"] == [
        {"name": "aks-api-server", "serviceName": "Microsoft.ContainerService/managedClusters"}
    ]
    assert "natGateway" not in subnets["api-server"]
    system_pool = one(run, AKS).inputs["agentPoolProfiles"][0]
    assert system_pool["vnetSubnetID"] == subnet_id(run, "nodes")


def test_subnet_plan_scales_with_the_vnet():
    assert plan_subnets("10.8.0.0/22") == SubnetPlan("10.8.0.0/24", "10.8.1.0/24", "10.8.2.0/28")
    assert plan_subnets("10.8.0.0/24") == SubnetPlan("10.8.0.0/26", "10.8.0.64/26", "10.8.0.128/28")


def test_control_plane_identity_holds_only_narrow_grants(plan):
    run = plan()
    identity = one(run, "azure-native:managedidentity:UserAssignedIdentity")
    cluster = one(run, AKS)
    assert cluster.inputs["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity.id]}
    grants = {
        (r.inputs["roleDefinitionId"], r.inputs["scope"])
        for r in of_type(run, ROLE)
        if r.inputs["principalId"] == identity.outputs["principalId"]
    }
    assert grants == {
        (role_id("Network Contributor"), subnet_id(run, "nodes")),
        (role_id("Network Contributor"), subnet_id(run, "api-server")),
        (role_id("Key Vault Crypto User"), named(run, KEY, "c-keys-etcd").id),
        (role_id("Key Vault Contributor"), one(run, VAULT).id),
        (role_id("Reader"), one(run, DES).id),
    }
    assert all(
        r.inputs["principalType"] == "ServicePrincipal" for r in of_type(run, ROLE) if r.name != "c-deployer-admin"
    )
    # Every grant exists before the cluster that needs it.
    assert {r.urn for r in of_type(run, ROLE) if r.inputs["principalId"] != DEPLOYER_OBJECT_ID} <= set(
        cluster.dependencies
    )


def test_no_grant_reaches_beyond_one_resource(plan):
    run = plan(pool())
    group = one(run, "azure-native:resources:ResourceGroup").id
    for grant in of_type(run, ROLE):
        scope = grant.inputs["scope"]
        assert scope.startswith(f"{group}/providers/"), scope
        assert "*" not in scope


# ------------------------------------------------------------------ keys and encryption


def test_vault_is_purge_protected_rbac_only_and_closed_to_networks(plan):
    properties = one(plan(), VAULT).inputs["properties"]
    assert properties["enablePurgeProtection"] is True
    assert properties["enableSoftDelete"] is True
    assert properties["softDeleteRetentionInDays"] == 90
    assert properties["enableRbacAuthorization"] is True
    assert properties["networkAcls"] == {"defaultAction": "Deny", "bypass": "AzureServices", "ipRules": []}
    assert properties["tenantId"] == TENANT_ID


@pytest.mark.parametrize("key", ["etcd", "disk"])
def test_keys_rotate_every_year(plan, key):
    run = plan()
    properties = named(run, KEY, f"c-keys-{key}").inputs["properties"]
    assert properties["kty"] == "RSA"
    assert properties["rotationPolicy"] == {
        "attributes": {"expiryTime": "P2Y"},
        "lifetimeActions": [
            {"trigger": {"timeAfterCreate": "P1Y"}, "action": {"type": "rotate"}},
            {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "notify"}},
        ],
    }
    assert named(run, KEY, f"c-keys-{key}").inputs["vaultName"] == one(run, VAULT).outputs["name"]


def test_etcd_is_encrypted_with_kms_through_the_private_vault(plan):
    run = plan()
    kms = one(run, AKS).inputs["securityProfile"]["azureKeyVaultKms"]
    assert kms == {
        "enabled": True,
        "keyId": named(run, KEY, "c-keys-etcd").outputs["keyUriWithVersion"],
        "keyVaultNetworkAccess": "Private",
        "keyVaultResourceId": one(run, VAULT).id,
    }


def test_node_disks_are_encrypted_with_the_rotating_disk_key(plan):
    run = plan()
    des = one(run, DES)
    disk_key = named(run, KEY, "c-keys-disk")
    assert one(run, AKS).inputs["diskEncryptionSetID"] == des.id
    assert des.inputs["activeKey"] == {"keyUrl": disk_key.outputs["keyUri"], "sourceVault": {"id": one(run, VAULT).id}}
    assert des.inputs["rotationToLatestKeyVersionEnabled"] is True
    assert des.inputs["encryptionType"] == "EncryptionAtRestWithCustomerKey"
    grant = named(run, ROLE, "c-keys-des-key-user")
    assert grant.inputs["principalId"] == des.outputs["identity"]["principalId"]
    assert grant.inputs["roleDefinitionId"] == role_id("Key Vault Crypto Service Encryption User")
    assert grant.inputs["scope"] == disk_key.id
    assert grant.urn in one(run, AKS).dependencies


def test_every_pool_encrypts_at_host(plan):
    run = plan(pool(), pool("cpu", "cpu"), pool("a100", "A100-80GB:1", capacity_type="spot"))
    profiles = one(run, AKS).inputs["agentPoolProfiles"] + [p.inputs for p in of_type(run, POOL)]
    assert len(profiles) == 4
    assert all(p["enableEncryptionAtHost"] is True for p in profiles)
    assert not any(p.get("enableNodePublicIP") for p in profiles)


# ------------------------------------------------------------------ operations


def test_control_plane_logs_go_to_log_analytics(plan):
    run = plan()
    setting = one(run, "azure-native:monitor:DiagnosticSetting").inputs
    workspace = one(run, "azure-native:operationalinsights:Workspace")
    assert setting["resourceUri"] == one(run, AKS).id
    assert setting["workspaceId"] == workspace.id
    assert setting["logAnalyticsDestinationType"] == "Dedicated"
    assert setting["logs"] == [
        {"category": "kube-audit", "enabled": True},
        {"category": "kube-apiserver", "enabled": True},
        {"category": "guard", "enabled": True},
    ]
    assert workspace.inputs["retentionInDays"] == 90


def test_cluster_patches_itself_and_its_node_images(plan):
    cluster = one(plan(), AKS).inputs
    assert cluster["autoUpgradeProfile"] == {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "NodeImage"}
    assert cluster["kubernetesVersion"] == "1.33"
    assert cluster["sku"] == {"name": "Base", "tier": "Standard"}
    assert cluster["nodeResourceGroupProfile"] == {"restrictionLevel": "ReadOnly"}


def test_system_pool_takes_only_critical_addons_across_zones(plan):
    (system,) = one(plan(), AKS).inputs["agentPoolProfiles"]
    assert system["name"] == "system"
    assert system["mode"] == "System"
    assert system["vmSize"] == "Standard_D8s_v5"
    assert system["nodeTaints"] == ["CriticalAddonsOnly=true:NoSchedule"]
    assert system["availabilityZones"] == ["1", "2", "3"]
    assert (system["enableAutoScaling"], system["minCount"], system["maxCount"]) == (True, 3, 6)


def test_taggable_resources_carry_the_stack_tags(plan):
    run = plan(pool())
    for type_ in TAGGABLE:
        resources = of_type(run, type_)
        assert resources, type_
        for r in resources:
            assert r.inputs["tags"]["cost-center"] == "ml-platform", r.name
            assert r.inputs["tags"]["managed-by"] == "aiinfra", r.name


def test_existing_vnet_and_subnets_are_used_as_given(plan):
    ids = tuple(
        f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/hub/"
        f"subnets/{s}"
        for s in ("aks-nodes", "endpoints", "aks-api")
    )
    run = plan(pool(), vpc_id=ids[0].rsplit("/subnets/", 1)[0], subnet_ids=ids)
    assert of_type(run, VNET) == []
    assert of_type(run, "azure-native:network:NatGateway") == []
    cluster = one(run, AKS).inputs
    assert cluster["agentPoolProfiles"][0]["vnetSubnetID"] == ids[0]
    assert cluster["apiServerAccessProfile"]["subnetId"] == ids[2]
    assert one(run, POOL).inputs["vnetSubnetID"] == ids[0]
    network_grants = {
        r.inputs["scope"] for r in of_type(run, ROLE) if r.inputs["roleDefinitionId"] == role_id("Network Contributor")
    }
    assert network_grants == {ids[0], ids[2]}
    assert one(run, "aiinfra:azure:AksCluster").outputs["privateEndpointSubnetId"] == ids[1]


def test_kubeconfig_is_a_secret_that_signs_in_with_kubelogin_and_the_azure_cli(plan):
    run = plan(pool())
    provider = named(run, "pulumi:providers:kubernetes", "c-k8s")
    # No local accounts: a provider made from the kubeconfig, and all it creates, waits for the admin role.
    assert named(run, ROLE, "c-deployer-admin").urn in provider.dependencies
    raw = provider.inputs["kubeconfig"]
    assert isinstance(raw, dict) and "value" in raw, "the kubeconfig must be a secret"
    config = yaml.safe_load(raw["value"])
    (user,) = config["users"]
    assert user["user"]["exec"]["command"] == "kubelogin"
    assert user["user"]["exec"]["args"] == [
        "get-token",
        "--login",
        "azurecli",
        "--server-id",
        "6dae42f8-4368-4678-94ff-3960e28e3630",
    ]
    assert config["clusters"][0]["cluster"]["server"] == f"https://{one(run, AKS).outputs['privateFQDN']}:443"


def test_the_neutral_facade_drives_the_adapter(run_mocked, monkeypatch):
    run = run_mocked(lambda: Cluster("c", cluster_args(pool())))
    node_pool = named(run, "aiinfra:index:NodePool", "c-h100")
    assert named(run, POOL, "c-h100-pool").parent == node_pool.urn
    assert named(run, "aiinfra:azure:AksCluster", "c").parent == one(run, "aiinfra:index:Cluster").urn
    facade_provider = named(run, "pulumi:providers:kubernetes", "c-k8s")
    assert yaml.safe_load(facade_provider.inputs["kubeconfig"]["value"])["users"][0]["user"]["exec"]["command"] == (
        "kubelogin"
    )


# ------------------------------------------------------------------ GPU pools


def test_nd_h100_pool_leaves_the_driver_to_the_gpu_operator(plan):
    run = plan(pool(zone="2", labels={"team": "vision"}))
    agent = named(run, POOL, "c-h100-pool")
    inputs = agent.inputs
    assert inputs["vmSize"] == "Standard_ND96isr_H100_v5"
    assert inputs["agentPoolName"] == "h100"
    assert inputs["resourceName"] == one(run, AKS).outputs["name"]
    assert inputs["mode"] == "User"
    assert inputs["osSKU"] == "Ubuntu"
    assert inputs["gpuProfile"] == {"driver": "None"}
    assert inputs["nodeTaints"] == ["nvidia.com/gpu=present:NoSchedule"]
    assert inputs["nodeLabels"] == {
        "aiinfra.dev/pool": "h100",
        "aiinfra.dev/accelerator": "H100",
        "aiinfra.dev/fabric": "infiniband",
        "nvidia.com/gpu.present": "true",
        "aiinfra.dev/local-nvme": "raid0",
        "team": "vision",
    }
    assert (inputs["enableAutoScaling"], inputs["minCount"], inputs["maxCount"], inputs["count"]) == (True, 0, 4, 0)
    assert inputs["availabilityZones"] == ["2"]
    assert inputs["scaleSetPriority"] == "Regular"
    assert (inputs["osDiskType"], inputs["osDiskSizeGB"]) == ("Ephemeral", 256)
    assert inputs["upgradeSettings"] == {"maxSurge": "0", "maxUnavailable": "1"}


def test_extra_taints_follow_the_gpu_taint(plan):
    run = plan(pool(taints=(Taint("dedicated", "vision", "NoExecute"), Taint("no-value"))))
    assert named(run, POOL, "c-h100-pool").inputs["nodeTaints"] == [
        "nvidia.com/gpu=present:NoSchedule",
        "dedicated=vision:NoExecute",
        "no-value:NoSchedule",
    ]


def test_infiniband_pool_stays_in_one_zone_and_others_span_the_cluster(plan):
    run = plan(pool(), pool("a100", "A100-80GB:1"), zones=("2", "3"))
    assert named(run, POOL, "c-h100-pool").inputs["availabilityZones"] == ["2"]
    assert named(run, POOL, "c-a100-pool").inputs["availabilityZones"] == ["2", "3"]


def test_cpu_pool_has_no_gpu_settings(plan):
    inputs = named(plan(pool("cpu", "cpu")), POOL, "c-cpu-pool").inputs
    assert "gpuProfile" not in inputs
    assert inputs["nodeTaints"] == []
    assert (inputs["osDiskType"], inputs["osDiskSizeGB"]) == ("Managed", 128)
    assert inputs["upgradeSettings"] == {"maxSurge": "33%"}


def test_spot_pool_is_evicted_by_deletion_at_any_price(plan):
    inputs = named(plan(pool("a100", "A100-80GB:1", capacity_type="spot")), POOL, "c-a100-pool").inputs
    assert inputs["scaleSetPriority"] == "Spot"
    assert inputs["scaleSetEvictionPolicy"] == "Delete"
    assert inputs["spotMaxPrice"] == -1
    assert inputs["vmSize"] == "Standard_NC24ads_A100_v4"
    # AKS taints spot nodes itself; the pool states it, so nothing differs between plan and cloud.
    assert inputs["nodeTaints"] == [
        "nvidia.com/gpu=present:NoSchedule",
        "kubernetes.azure.com/scalesetpriority=spot:NoSchedule",
    ]


def test_queues_on_a_spot_pool_tolerate_the_taint_aks_puts_on_its_nodes(run_mocked, monkeypatch):
    spot = pool("a100", "A100-80GB:1", capacity_type="spot")
    run = run_mocked(lambda: Cluster("c", cluster_args(spot, pool())))
    flavors = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]
        for r in of_type(run, "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor")
    }
    spot_toleration = {"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal", "value": "spot"}
    assert {**spot_toleration, "effect": "NoSchedule"} in flavors["a100"]["tolerations"]
    assert not any(t["key"] == spot_toleration["key"] for t in flavors["h100"]["tolerations"])


def test_reservation_pool_targets_its_capacity_reservation_group(plan):
    group = (
        f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/capacity/providers/Microsoft.Compute/"
        "capacityReservationGroups/nd-h100"
    )
    inputs = named(plan(pool(capacity_type="reservation", reservation_id=group)), POOL, "c-h100-pool").inputs
    assert inputs["capacityReservationGroupID"] == group
    assert inputs["scaleSetPriority"] == "Regular"


# ------------------------------------------------------------------ cluster software


def test_gpu_and_network_operators_are_pinned_helm_releases(plan, snapshot):
    run = plan(pool())
    cluster_provider = named(run, "pulumi:providers:kubernetes", "c-k8s")
    releases = {}
    for chart in ("gpu-operator", "network-operator"):
        r = release(run, chart)
        assert r.provider.startswith(cluster_provider.urn)
        releases[chart] = {
            k: r.inputs[k] for k in ("name", "chart", "version", "repositoryOpts", "namespace", "values")
        }
    assert releases["gpu-operator"]["version"] == "v25.10.1"
    assert releases["network-operator"]["version"] == "v25.10.0"
    assert releases["gpu-operator"]["values"]["driver"] == {"enabled": True, "rdma": {"enabled": True}}
    assert releases == snapshot


def test_gpu_operator_waits_for_the_network_operator_it_builds_on(plan):
    run = plan(pool())
    assert release(run, "network-operator").urn in release(run, "gpu-operator").dependencies


def test_operator_namespaces_allow_privileged_pods(plan):
    run = plan(pool())
    namespaces = {
        n.inputs["metadata"]["name"]: n.inputs["metadata"]["labels"]
        for n in of_type(run, "kubernetes:core/v1:Namespace")
        if n.name != "c-system"  # the facade's
    }
    assert set(namespaces) == {"gpu-operator", "nvidia-network-operator"}
    assert all(labels["pod-security.kubernetes.io/enforce"] == "privileged" for labels in namespaces.values())


def test_nic_cluster_policy_exposes_the_rdma_shared_device_plugin(plan, snapshot):
    run = plan(pool())
    policy = one(run, NIC_POLICY)
    assert policy.inputs["apiVersion"] == "mellanox.com/v1alpha1"
    assert policy.inputs["kind"] == "NicClusterPolicy"
    assert policy.inputs["metadata"]["name"] == "nic-cluster-policy"
    assert release(run, "network-operator").urn in policy.dependencies
    spec = policy.inputs["spec"]
    config = json.loads(spec["rdmaSharedDevicePlugin"]["config"])
    assert config["configList"][0]["resourceName"] == "shared_ib"  # pods ask for rdma/shared_ib
    assert spec["ofedDriver"]["image"] == "doca-driver"
    assert spec == snapshot


@pytest.mark.parametrize(
    ("pools", "runs_nfd"),
    [
        ((pool(),), "network-operator"),
        ((pool(), pool("a100", "A100-80GB:1")), "network-operator"),
        ((pool("a100", "A100-80GB:1"),), "gpu-operator"),
    ],
)
def test_node_feature_discovery_runs_exactly_once(plan, pools, runs_nfd):
    run = plan(*pools)
    enabled = [r.inputs["chart"] for r in of_type(run, RELEASE) if r.inputs["values"]["nfd"]["enabled"]]
    assert enabled == [runs_nfd]


def test_gpu_pools_without_infiniband_get_no_network_operator(plan):
    run = plan(pool("a100", "A100-80GB:1"))
    assert [r.inputs["chart"] for r in of_type(run, RELEASE)] == ["gpu-operator"]
    assert of_type(run, NIC_POLICY) == []
    assert release(run, "gpu-operator").inputs["values"]["driver"] == {"enabled": True, "rdma": {"enabled": False}}


def test_cpu_only_cluster_gets_no_cluster_software(plan):
    run = plan(pool("cpu", "cpu"))
    made = [r.name for r in run.resources if r.type.startswith("kubernetes:")]
    assert made == ["c-system"]  # only the facade's namespace


def test_local_nvme_is_striped_raid0_by_a_pinned_daemonset_on_labelled_nodes(plan, snapshot):
    run = plan(pool())
    daemonset = one(run, DAEMONSET)
    assert daemonset.inputs["metadata"]["namespace"] == "aiinfra-system"
    system = named(run, "kubernetes:core/v1:Namespace", "c-system")
    assert system.urn in daemonset.dependencies  # never before the namespace it lives in
    pod = daemonset.inputs["spec"]["template"]["spec"]
    pool_labels = named(run, POOL, "c-h100-pool").inputs["nodeLabels"]
    assert pod["nodeSelector"].items() <= pool_labels.items()
    images = [c["image"] for c in pod["initContainers"] + pod["containers"]]
    assert all(":" in image and not image.endswith(":latest") for image in images)
    script = one(run, "kubernetes:core/v1:ConfigMap").inputs["data"]["nvme-raid0.sh"]
    assert "mdadm --create" in script and "--level=0" in script
    assert script == raid0_script()
    assert {"spec": daemonset.inputs["spec"], "script": script} == snapshot


def test_every_object_the_cluster_software_renders_is_valid_for_its_kubernetes_version(plan):
    run = plan(pool(), pool("a100", "A100-80GB:1", capacity_type="spot"))
    found = manifests(run)
    assert {"NicClusterPolicy", "DaemonSet", "ConfigMap", "Namespace"} <= {m["kind"] for m in found}
    assert assert_valid(found, "1.33") == len(found)


def test_no_raid0_daemonset_without_local_nvme(plan):
    run = plan(NodePoolArgs(name="h100", shape=resolve("azure", "H100:8", local_nvme="none"), max_nodes=2))
    assert of_type(run, DAEMONSET) == []
    assert "aiinfra.dev/local-nvme" not in named(run, POOL, "c-h100-pool").inputs["nodeLabels"]
    assert release(run, "network-operator")  # the GPU software still comes


# ------------------------------------------------------------------ errors


def azure_shape(accelerator: str, **changes):
    return dataclasses.replace(resolve("azure", accelerator), **changes)


@pytest.mark.parametrize(
    ("pool_args", "path", "words"),
    [
        (
            NodePoolArgs(name="a100", shape=azure_shape("A100-80GB:1", fabric=Fabric.INFINIBAND, fabric_interfaces=8)),
            "c.node_pools.a100.shape.fabric",
            "has no InfiniBand ports",
        ),
        (
            NodePoolArgs(name="h100", shape=azure_shape("H100:8", fabric_interfaces=0)),
            "c.node_pools.h100.shape.fabric",
            "has no InfiniBand ports",
        ),
        (pool(capacity_type="spot"), "c.node_pools.h100.capacity_type", "'spot'"),
        (pool(capacity_type="capacity-block"), "c.node_pools.h100.capacity_type", "AWS offer"),
        # As the spec gives it (capacity blocks need an id): still the one problem, not a second on the id.
        (
            pool(capacity_type="capacity-block", reservation_id="cr-0abc"),
            "c.node_pools.h100.capacity_type",
            "AWS offer",
        ),
        (pool(zone="3"), "c.node_pools.h100.zone", "not one of the cluster's zones 1, 2"),
        (
            NodePoolArgs(name="nd40", shape=azure_shape("H100:8", machine_type="Standard_ND40rs_v2")),
            "c.node_pools.nd40.shape",
            "not an Azure VM size the catalog knows",
        ),
        (
            NodePoolArgs(name="efa", shape=azure_shape("H100:8", fabric=Fabric.EFA)),
            "c.node_pools.efa.shape.fabric",
            "infiniband or none",
        ),
        (pool(capacity_type="reservation"), "c.node_pools.h100.reservation_id", "capacity reservation group"),
        (pool(reservation_id="/subscriptions/x"), "c.node_pools.h100.reservation_id", "only reservation"),
        (pool(max_nodes=0), "c.node_pools.h100.max_nodes", "between 1 and 1000"),
        (pool("8xh100"), "c.node_pools.8xh100.name", "start with a letter"),
        (pool("system"), "c.node_pools.system.name", "system pool"),
        (pool(taints=(Taint("a", "b", "NoFly"),)), "c.node_pools.h100.taints[0].effect", "choose one of"),
        (NodePoolArgs(name="p5", shape=resolve("aws", "H100:8")), "c.node_pools.p5", "shape is for aws"),
    ],
)
def test_pool_problems_are_input_errors_with_paths(plan, pool_args, path, words):
    with pytest.raises(InputError) as err:
        plan(pool_args, zones=("1", "2"))
    assert [p.path for p in err.value.problems] == [path]
    assert words in err.value.problems[0].message


@pytest.mark.parametrize(
    ("cluster_kw", "path", "words"),
    [
        ({"region": None}, "c.region", "required"),
        ({"zones": ("eastus-1",)}, "c.zones", "Azure zones are 1, 2, 3"),
        ({"network_cidr": "172.16.0.0/16"}, "c.network_cidr", "service range"),
        ({"network_cidr": "10.244.0.0/20"}, "c.network_cidr", "pod range"),
        ({"network_cidr": "10.0.0.0/26"}, "c.network_cidr", "/16 to /24"),
        ({"vpc_id": "/vnet", "subnet_ids": ("/subnet",)}, "c.subnet_ids", "three subnet ids"),
        ({"private_dns_zone_ids": {"privatelink.blob.core.windows.net": "/z"}}, "c.private_dns_zone_ids", "vpc_id"),
        ({"region": "nowhere-land"}, "c.region", "not an Azure region the catalog lists"),
        ({"region": "westus", "zones": ("1",)}, "c.zones", "westus has no availability zones"),
    ],
)
def test_cluster_problems_are_input_errors_with_paths(plan, cluster_kw, path, words):
    with pytest.raises(InputError) as err:
        plan(**cluster_kw)
    assert [p.path for p in err.value.problems] == [path]
    assert words in err.value.problems[0].message


def test_a_region_without_availability_zones_gets_no_zones(plan):
    """westus sells ND H100 v5 but has no zones: a zone on any pool would fail the deploy."""
    run = plan(pool(), pool("cpu", "cpu"), region="westus")
    assert one(run, AKS).inputs["agentPoolProfiles"][0].get("availabilityZones") is None
    assert [p.inputs.get("availabilityZones") for p in of_type(run, POOL)] == [None, None]
    with pytest.raises(InputError) as err:
        plan(pool(zone="1"), region="westus")
    assert [str(p) for p in err.value.problems] == [
        "c.node_pools.h100.zone: '1' — the cluster's region has no availability zones; remove zone"
    ]


def test_pool_names_that_collide_in_aks_are_refused(plan):
    with pytest.raises(InputError) as err:
        plan(pool("gpu-a"), pool("gpu_a"))
    assert [str(p) for p in err.value.problems] == [
        "c.node_pools.gpu_a.name: 'gpu_a' — becomes AKS pool 'gpua', like 'gpu-a'; rename one"
    ]


def test_every_problem_is_reported_at_once_before_anything_is_registered():
    monitors: list[RecordingMonitor] = []

    class Keep(RecordingMonitor):
        def __init__(self, mocks):
            super().__init__(mocks)
            monitors.append(self)

    args = cluster_args(pool(capacity_type="spot"), pool("a", "A100-80GB:1", zone="4"), zones=("1", "9"))
    with pytest.raises(InputError) as err:
        run_function(lambda: build(args), PlanMocks(), monitor=Keep)
    assert [p.path for p in err.value.problems] == [
        "c.zones",
        "c.node_pools.h100.capacity_type",
        "c.node_pools.a.zone",
    ]
    (monitor,) = monitors
    assert [r.type for r in monitor.recorded.values() if r.type != "pulumi:pulumi:Stack"] == []


# ------------------------------------------------------------------ the RAID0 script itself

FAKE_LSBLK = """#!/bin/sh
echo "/dev/sda   Virtual Disk"
echo "/dev/nvme0n1 Microsoft NVMe Direct Disk"
echo "/dev/nvme1n1 Microsoft NVMe Direct Disk"
echo "/dev/nvme2n1 MSFT NVMe Accelerator v1.0"
"""


@pytest.fixture
def host(tmp_path):
    """A fake node: logging stand-ins for the disk tools, with the script's array and mount point in tmp."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    tools = {
        "lsblk": FAKE_LSBLK,
        "mountpoint": '#!/bin/sh\nexit "${FAKE_MOUNTED:-1}"\n',
        # --create makes the array device appear, as the kernel would.
        "mdadm": f'#!/bin/sh\necho "mdadm $*" >> {log}\n[ "$1" = --create ] && touch "$2"\nexit 0\n',
        "blkid": "#!/bin/sh\nexit 2\n",
    }
    for tool in ("udevadm", "mkfs.ext4", "mount"):
        tools[tool] = f'#!/bin/sh\necho "{tool} $*" >> {log}\n'
    for tool, text in tools.items():
        (bin_dir / tool).write_text(text)
        (bin_dir / tool).chmod(0o755)

    def run_script(lsblk: str | None = None, **env: str):
        if lsblk is not None:
            (bin_dir / "lsblk").write_text(lsblk)
        environment = {
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "ARRAY": str(tmp_path / "md-scratch"),
            "MOUNT_POINT": str(tmp_path / "scratch"),
            **env,
        }
        done = subprocess.run(
            ["bash", "-s"], input=raid0_script(), env=environment, capture_output=True, text=True, check=False
        )
        calls = log.read_text().splitlines() if log.exists() else []
        return done, calls

    return run_script, tmp_path


def test_raid0_script_stripes_only_the_local_nvme_disks_then_formats_and_mounts(host):
    run_script, tmp = host
    done, calls = run_script()
    assert done.returncode == 0, done.stderr
    array, mount_point = tmp / "md-scratch", tmp / "scratch"
    assert calls == [
        "mdadm --assemble --scan",
        f"mdadm --create {array} --name=aiinfra-scratch --level=0 --raid-devices=2 --chunk=512 --homehost=any "
        "--run --force /dev/nvme0n1 /dev/nvme1n1",
        "udevadm settle",
        f"mkfs.ext4 -F -m 0 -L aiinfra-scratch -E lazy_itable_init=1,lazy_journal_init=1,nodiscard {array}",
        f"mount -o noatime,nodiratime {array} {mount_point}",
    ]
    assert mount_point.is_dir()


def test_raid0_script_leaves_a_mounted_node_alone(host):
    run_script, _ = host
    done, calls = run_script(FAKE_MOUNTED="0")
    assert done.returncode == 0
    assert calls == []


def test_raid0_script_fails_loudly_without_local_nvme(host):
    run_script, _ = host
    done, calls = run_script(lsblk='#!/bin/sh\necho "/dev/sda Virtual Disk"\n')
    assert done.returncode == 1
    assert "no local NVMe disks" in done.stderr
    assert not any("--create" in c for c in calls)
