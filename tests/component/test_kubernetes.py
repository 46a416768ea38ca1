"""The Kubernetes layer under the plan's mock engine: the on-prem adapter, the platform layer every cluster
carries (JobSet, Kueue, operators, metrics), team tenancy, and the validity of everything they render."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from types import SimpleNamespace

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from aiinfra.core import catalog
from aiinfra.core.catalog.data import SUPPORTED_KUBERNETES
from aiinfra.core.errors import InputError
from aiinfra.plan.engine import run_function
from aiinfra.plan.mocks import PlanMocks
from components.cluster import Cluster
from components.common import Taint
from components.contracts import SYSTEM_NAMESPACE, ClusterArgs, NodePoolArgs
from components.kubernetes import admission, versions
from components.kubernetes.onprem import kubeconfig_server
from components.kubernetes.platform import NodeResources, PlatformLayer, PlatformLayerArgs, kueue_manager_config
from components.kubernetes.tenancy import (
    EgressRule,
    ServiceEgress,
    Tenancy,
    TenancyArgs,
    cluster_quotas,
    network_policy_specs,
)
from tests.conftest import of_type, one
from tests.k8s_schema import assert_valid, manifest, manifests, problems

RELEASE = "kubernetes:helm.sh/v3:Release"
RACK_SELECTOR = {"aiinfra.dev/rack": "r1", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- {name: rack, cluster: {server: "https://10.0.0.1:6443", certificate-authority-data: Y2E=}}
- {name: other, cluster: {server: "https://10.9.9.9:6443"}}
contexts:
- {name: admin@rack, context: {cluster: rack, user: admin}}
current-context: admin@rack
users:
- {name: admin, user: {token: secret-token}}
"""
TAGS = {"cost-center": "ml-platform", "owner": "platform@example.com"}


# ---------------------------------------------------------------------------- scenarios (run once per module)


def onprem_pool(name: str = "h100", accelerator: str = "H100:8", fabric: str = "infiniband", **kw) -> NodePoolArgs:
    return NodePoolArgs(
        name=name,
        shape=catalog.resolve("onprem", accelerator, fabric=fabric),
        **{"min_nodes": 4, "max_nodes": 4, "node_selector": RACK_SELECTOR, **kw},
    )


def cloud_pool(cloud: str, name: str, accelerator: str, max_nodes: int = 2, **kw) -> NodePoolArgs:
    return NodePoolArgs(
        name=name, shape=catalog.resolve(cloud, accelerator, **kw.pop("resolve", {})), max_nodes=max_nodes, **kw
    )


def provider() -> k8s.Provider:
    return k8s.Provider("k8s", kubeconfig=pulumi.Output.secret(KUBECONFIG))


def run(program: Callable[[], object], stack: str = "test"):
    return run_function(program, PlanMocks(), stack=stack)


ONPREM_POOLS = (onprem_pool(taints=(Taint("dedicated", "training", "NoSchedule"),)),)
AWS_POOLS = (
    cloud_pool("aws", "system", "cpu", min_nodes=2, max_nodes=4),
    cloud_pool("aws", "h100", "H100:8", max_nodes=4, taints=(Taint("dedicated", "training"),)),
    cloud_pool("aws", "h100-dev", "H100:1"),
    cloud_pool("aws", "l4", "L4:1"),
)
GCP_POOLS = (
    cloud_pool("gcp", "a3mega", "H100:8"),
    cloud_pool("gcp", "a3ultra", "H200:8"),
    NodePoolArgs(name="v5p", shape=catalog.resolve("gcp", "TPU-v5p:2x2x2"), min_nodes=2, max_nodes=2),
)
TEAM_EGRESS = (EgressRule(cidr="10.20.0.0/24"), EgressRule(cidr="52.216.0.0/15", ports=(443, 80)))


@cache
def onprem_run():
    """prod's rack: the on-prem adapter through the facade, its platform layer and a team."""

    def program():
        cluster = Cluster(
            "rack",
            ClusterArgs(
                cloud="onprem",
                kubernetes_version="1.32",
                node_pools=ONPREM_POOLS,
                kubeconfig=pulumi.Output.secret(KUBECONFIG),
                tags=TAGS,
            ),
        )
        platform = PlatformLayer(
            "rack-platform",
            PlatformLayerArgs(
                provider=cluster.kubernetes_provider,
                cloud="onprem",
                kubernetes_version="1.32",
                pools=ONPREM_POOLS,
                system_namespace=cluster.system_namespace.metadata.name,
                tags=cluster.tags,
            ),
            pulumi.ResourceOptions(parent=cluster, depends_on=list(cluster.node_pools.values())),
        )
        Tenancy(
            "rack-nlp",
            TenancyArgs(
                provider=cluster.kubernetes_provider,
                team="nlp",
                kubernetes_version="1.32",
                accelerator_classes=platform.accelerator_classes,
                quotas={"H100": 16},
                egress=TEAM_EGRESS,
                tags=TAGS,
            ),
            pulumi.ResourceOptions(parent=cluster, depends_on=[platform]),
        )

    return run(program, stack="prod")


@cache
def aws_run():
    def program():
        platform = PlatformLayer(
            "train-platform",
            PlatformLayerArgs(provider=provider(), cloud="aws", kubernetes_version="1.33", pools=AWS_POOLS, tags=TAGS),
        )
        Tenancy(
            "train-vision",
            TenancyArgs(
                provider=provider(),
                team="vision",
                kubernetes_version="1.33",
                accelerator_classes=platform.accelerator_classes,
                quotas={"H100": 16, "L4": 0},
                service_account_annotations={
                    "eks.amazonaws.com/role-arn": pulumi.Output.secret("arn:aws:iam::123456789012:role/vision")
                },
            ),
        )

    return run(program)


@cache
def gcp_run():
    def program():
        platform = PlatformLayer(
            "g-platform",
            PlatformLayerArgs(provider=provider(), cloud="gcp", kubernetes_version="1.34", pools=GCP_POOLS),
        )
        Tenancy(
            "g-vision",
            TenancyArgs(
                provider=provider(),
                team="vision",
                kubernetes_version="1.34",
                accelerator_classes=platform.accelerator_classes,
                quotas=cluster_quotas({"H100": 16, "TPU-v5p": 8, "L4": 2}, platform.accelerator_classes),
                service_account_annotations={"iam.gke.io/gcp-service-account": "vision@p.iam.gserviceaccount.com"},
            ),
        )

    return run(program)


def by_kind(r, kind: str) -> list[dict]:
    return sorted(manifests(r, kind=kind), key=lambda m: m["metadata"]["name"])


def named(r, kind: str, name: str) -> dict:
    found = [m for m in manifests(r, kind=kind) if m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def release(r, name: str) -> dict:
    found = [x.inputs for x in of_type(r, RELEASE) if x.inputs.get("name") == name]
    assert len(found) == 1, f"expected one release {name}, found {[x.inputs.get('name') for x in of_type(r, RELEASE)]}"
    return manifest(type("R", (), {"inputs": found[0]})())


def caught(program: Callable[[], object]) -> tuple[InputError, object]:
    """Run `program`, which must raise InputError; return it and the run (to see what got registered)."""
    box: list[InputError] = []

    def wrapper():
        try:
            program()
        except InputError as err:
            box.append(err)

    ran = run(wrapper)
    assert box, "no InputError was raised"
    return box[0], ran


# ---------------------------------------------------------------------------- on-prem adapter


def test_onprem_cluster_describes_existing_nodes_and_creates_no_machines():
    r = onprem_run()
    adapter = one(r, "aiinfra:kubernetes:OnPremCluster")
    assert adapter.outputs["endpoint"] == "https://10.0.0.1:6443"
    nodes = one(r, "aiinfra:kubernetes:ExistingNodes")
    assert nodes.parent == one(r, "aiinfra:index:NodePool").urn
    assert nodes.outputs == {
        "nodeSelector": RACK_SELECTOR,
        "accelerator": "H100",
        "acceleratorsPerNode": 8,
        "nodes": 4,
        "accelerators": 32,
        "fabric": "infiniband",
    }
    # Nothing under the adapter: existing nodes are described, not created.
    assert [x.type for x in r.resources if x.parent in (adapter.urn, nodes.urn)] == []
    assert not [x for x in r.resources if x.type.startswith(("aws:", "gcp:", "azure-native:"))]
    # The cluster's provider connects with the kubeconfig, kept secret.
    k8s_provider = one(r, "pulumi:providers:kubernetes")
    assert k8s_provider.inputs["kubeconfig"]["value"] == KUBECONFIG


@pytest.mark.parametrize(
    ("text", "server"),
    [
        (KUBECONFIG, "https://10.0.0.1:6443"),
        ("clusters: [{name: only, cluster: {server: 'https://k:443'}}]", "https://k:443"),
        ("clusters: [{name: a, cluster: {server: x}}, {name: b, cluster: {server: y}}]", None),
        ("v1:placeholder:replace-with-pulumi-config-set-secret", None),
        ("{not yaml", None),
        (None, None),
    ],
)
def test_endpoint_is_parsed_from_the_kubeconfig_when_known(text, server):
    assert kubeconfig_server(text) == server


def test_onprem_pool_selectors_must_match_declared_nodes():
    pools = (
        onprem_pool("empty", node_selector={}),
        onprem_pool("wide", node_selector={f"k{i}": "v" for i in range(9)}),
        onprem_pool("bad", node_selector={"rack": "r 1"}),
    )
    err, ran = caught(
        lambda: Cluster(
            "rack",
            ClusterArgs(
                cloud="onprem", kubernetes_version="1.32", node_pools=pools, kubeconfig=pulumi.Output.secret("k")
            ),
        )
    )
    messages = [str(p) for p in err.problems]
    assert messages[0].startswith("rack.node_pools.empty.node_selector: empty — an on-prem pool's selector must match")
    assert "rack.node_pools.wide.node_selector: 9 labels — at most 8" in messages[1]
    assert (
        messages[2]
        == "rack.node_pools.bad.node_selector.rack: rack='r 1' — not a valid Kubernetes label, so it matches no node"
    )
    assert len(messages) == 3
    assert of_type(ran, "aiinfra:kubernetes:OnPremCluster") == []


# ---------------------------------------------------------------------------- platform layer


def test_onprem_platform_installs_gpu_and_network_operators_and_local_nvme():
    r = onprem_run()
    gpu = release(r, "gpu-operator")
    assert (gpu["chart"], gpu["version"]) == ("gpu-operator", versions.GPU_OPERATOR.version)
    assert gpu["repositoryOpts"] == {"repo": "https://helm.ngc.nvidia.com/nvidia"}
    assert gpu["values"]["driver"]["rdma"] == {"enabled": True, "useHostMofed": True}
    assert {"key": "dedicated", "operator": "Equal", "value": "training", "effect": "NoSchedule"} in gpu["values"][
        "daemonsets"
    ]["tolerations"]
    network = release(r, "network-operator")
    assert network["version"] == versions.NETWORK_OPERATOR.version
    assert network["values"]["nfd"] == {"enabled": False}  # one NFD per cluster: the GPU Operator's
    assert named(r, "Namespace", "gpu-operator")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == (
        "privileged"
    )

    policy = named(r, "NicClusterPolicy", "nic-cluster-policy")
    plugin = policy["spec"]["rdmaSharedDevicePlugin"]
    assert plugin["version"] == "network-operator-v25.10.0"
    assert json.loads(plugin["config"])["configList"] == [
        {"resourceName": "shared_ib", "rdmaHcaMax": 63, "selectors": {"vendors": ["15b3"], "linkTypes": ["infiniband"]}}
    ]
    terms = policy["spec"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [
        {"matchExpressions": [{"key": k, "operator": "In", "values": [v]} for k, v in RACK_SELECTOR.items()]}
    ]

    storage = named(r, "StorageClass", "local-nvme")
    assert storage["provisioner"] == "kubernetes.io/no-provisioner"
    assert storage["volumeBindingMode"] == "WaitForFirstConsumer"
    provisioner = named(r, "DaemonSet", "local-nvme-provisioner")
    assert provisioner["metadata"]["namespace"] == SYSTEM_NAMESPACE
    container = provisioner["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == versions.LOCAL_VOLUME_PROVISIONER_IMAGE
    class_map = named(r, "ConfigMap", "local-nvme-provisioner-config")["data"]["storageClassMap"]
    assert "local-nvme:" in class_map and "hostDir: /mnt/local-nvme" in class_map


def test_onprem_pools_without_rdma_get_no_network_operator():
    pools = (onprem_pool(fabric="none"),)
    r = run(
        lambda: PlatformLayer(
            "p", PlatformLayerArgs(provider=provider(), cloud="onprem", kubernetes_version="1.31", pools=pools)
        )
    )
    assert sorted(x.inputs["name"] for x in of_type(r, RELEASE)) == ["gpu-operator", "jobset", "kueue"]
    assert manifests(r, kind="NicClusterPolicy") == []
    assert release(r, "gpu-operator")["values"]["driver"]["rdma"] == {"enabled": False, "useHostMofed": False}
    assert named(r, "StorageClass", "local-nvme")


@pytest.mark.parametrize(
    ("cloud", "expected"),
    [
        ("aws", ["dcgm-exporter", "jobset", "kueue"]),
        ("azure", ["jobset", "kueue"]),  # the Azure adapter installs the GPU Operator, with its DCGM exporter
        ("gcp", ["jobset", "kueue"]),  # GKE installs drivers and device plugin, and exports DCGM metrics
    ],
)
def test_cloud_clusters_keep_the_device_plugins_their_adapter_brings(cloud, expected):
    accelerator = {"aws": "H100:8", "azure": "H100:8", "gcp": "L4:1"}[cloud]
    pools = (cloud_pool(cloud, "gpu", accelerator),)
    r = run(
        lambda: PlatformLayer(
            "p", PlatformLayerArgs(provider=provider(), cloud=cloud, kubernetes_version="1.33", pools=pools)
        )
    )
    assert sorted(x.inputs["name"] for x in of_type(r, RELEASE)) == expected
    assert of_type(r, "aiinfra:kubernetes:OnPremAddons") == []
    scrape = named(r, "ConfigMap", "aiinfra-prometheus-scrape")
    assert "job_name: dcgm-exporter" in scrape["data"]["dcgm-exporter.yaml"]


def test_dcgm_exporter_runs_only_on_gpu_pools_and_creates_no_service_monitor():
    values = release(aws_run(), "dcgm-exporter")["values"]
    term = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term == [
        {"matchExpressions": [{"key": "aiinfra.dev/pool", "operator": "In", "values": ["h100", "h100-dev", "l4"]}]}
    ]
    assert values["serviceMonitor"] == {"enabled": False}
    assert release(aws_run(), "dcgm-exporter")["version"] == versions.DCGM_EXPORTER.version


def test_jobset_and_kueue_are_pinned_and_kueue_waits_for_jobset():
    r = aws_run()
    jobset, kueue = release(r, "jobset"), release(r, "kueue")
    assert (jobset["chart"], jobset["version"]) == (versions.JOBSET.chart, "0.10.1")
    assert jobset["values"]["image"]["tag"] == "v0.10.1"
    assert jobset["values"]["prometheus"] == {"enable": False}
    assert (kueue["chart"], kueue["version"]) == (versions.KUEUE.chart, "0.15.7")
    assert kueue["values"]["controllerManager"]["manager"]["image"]["tag"] == "v0.15.7"
    assert kueue["values"]["managerConfig"]["controllerManagerConfigYaml"] == kueue_manager_config()
    # Both controllers (and their webhooks) may run on a system pool kept for add-ons, as AKS's is.
    critical = {"key": "CriticalAddonsOnly", "operator": "Exists", "effect": "NoSchedule"}
    assert kueue["values"]["controllerManager"]["tolerations"] == [critical]
    assert jobset["values"]["controller"]["tolerations"] == [critical]
    jobset_urn = next(x.urn for x in of_type(r, RELEASE) if x.inputs["name"] == "jobset")
    kueue_rec = next(x for x in of_type(r, RELEASE) if x.inputs["name"] == "kueue")
    assert jobset_urn in kueue_rec.dependencies
    # Queues are created once Kueue (its CRDs and webhooks) is up.
    for queue in of_type(r, "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue"):
        if "platform" in queue.name:
            assert kueue_rec.urn in queue.dependencies


def test_kueue_config_leaves_fabric_devices_out_of_quota_and_manages_only_jobs():
    config = yaml.safe_load(kueue_manager_config())
    assert config["apiVersion"] == "config.kueue.x-k8s.io/v1beta2"
    assert config["integrations"]["frameworks"] == ["batch/job", "jobset.x-k8s.io/jobset"]
    assert {"vpc.amazonaws.com/efa", "rdma/", "hugepages-"} <= set(config["resources"]["excludeResourcePrefixes"])
    assert config["waitForPodsReady"] == {"timeout": "10m"}


def test_a_resource_flavor_per_accelerator_pool_with_its_labels_and_tolerations():
    r = aws_run()
    flavors = {m["metadata"]["name"]: m["spec"] for m in manifests(r, kind="ResourceFlavor")}
    assert sorted(flavors) == ["h100", "h100-dev", "l4"]  # the CPU pool is not queued
    assert flavors["h100"] == {
        "nodeLabels": {"aiinfra.dev/pool": "h100"},
        "tolerations": [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "dedicated", "operator": "Equal", "value": "training", "effect": "NoSchedule"},
        ],
        "topologyName": "aws-network",  # EFA nodes carry EKS's network topology labels
    }
    assert "topologyName" not in flavors["h100-dev"]  # p5.4xlarge has no EFA
    onprem_flavor = named(onprem_run(), "ResourceFlavor", "h100")["spec"]
    assert onprem_flavor["nodeLabels"] == RACK_SELECTOR
    assert "topologyName" not in onprem_flavor  # no standard topology labels on-prem


def test_a_cluster_queue_per_accelerator_model_holds_the_declared_capacity():
    r = aws_run()
    queue = named(r, "ClusterQueue", "h100")["spec"]
    assert queue["cohortName"] == "h100"
    assert "namespaceSelector" not in queue  # only lends: teams submit through their own queues
    group = queue["resourceGroups"][0]
    assert group["coveredResources"] == ["cpu", "memory", "nvidia.com/gpu"]
    # p5.48xlarge (192 vCPU, 2048 GiB, 8 GPUs) x 4 nodes; p5.4xlarge (16 vCPU, 256 GiB, 1 GPU) x 2 nodes.
    assert group["flavors"] == [
        {
            "name": "h100",
            "resources": [
                {"name": "cpu", "nominalQuota": "768"},
                {"name": "memory", "nominalQuota": "8192Gi"},
                {"name": "nvidia.com/gpu", "nominalQuota": 32},
            ],
        },
        {
            "name": "h100-dev",
            "resources": [
                {"name": "cpu", "nominalQuota": "32"},
                {"name": "memory", "nominalQuota": "512Gi"},
                {"name": "nvidia.com/gpu", "nominalQuota": 2},
            ],
        },
    ]
    assert named(r, "ClusterQueue", "l4")["spec"]["resourceGroups"][0]["flavors"][0]["resources"][2] == {
        "name": "nvidia.com/gpu",
        "nominalQuota": 2,
    }
    topology = named(r, "Topology", "aws-network")["spec"]["levels"]
    assert [level["nodeLabel"] for level in topology] == [
        "topology.k8s.aws/network-node-layer-1",
        "topology.k8s.aws/network-node-layer-2",
        "topology.k8s.aws/network-node-layer-3",
        "kubernetes.io/hostname",
    ]


def test_tpu_slices_are_queued_as_google_tpu_and_gke_rdma_pools_get_topology():
    r = gcp_run()
    tpu = named(r, "ClusterQueue", "tpu-v5p")["spec"]["resourceGroups"][0]
    assert tpu["coveredResources"] == ["cpu", "memory", "google.com/tpu"]
    assert tpu["flavors"][0]["resources"][2] == {"name": "google.com/tpu", "nominalQuota": 8}  # 2 hosts x 4 chips
    flavors = {m["metadata"]["name"]: m["spec"] for m in manifests(r, kind="ResourceFlavor")}
    assert flavors["v5p"]["tolerations"] == [{"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert flavors["a3ultra"]["topologyName"] == "gcp-network"  # A3 Ultra (RDMA) nodes carry gce-topology labels
    assert "topologyName" not in flavors["a3mega"] and "topologyName" not in flavors["v5p"]
    levels = named(r, "Topology", "gcp-network")["spec"]["levels"]
    assert levels[0] == {"nodeLabel": "cloud.google.com/gce-topology-block"}
    # The catalog sizes TPU hosts: 2 ct5p-hightpu-4t hosts of 208 vCPUs and 448 GiB bound cpu and memory too.
    assert tpu["flavors"][0]["resources"][:2] == [
        {"name": "cpu", "nominalQuota": "416"},
        {"name": "memory", "nominalQuota": "896Gi"},
    ]
    assert not [d.message for d in r.diagnostics if d.severity == "warning"]


def test_declared_topology_levels_and_node_sizes_apply_on_prem():
    levels = ("aiinfra.dev/rack", "kubernetes.io/hostname")
    r = run(
        lambda: PlatformLayer(
            "p",
            PlatformLayerArgs(
                provider=provider(),
                cloud="onprem",
                kubernetes_version="1.34",
                pools=(onprem_pool(),),
                topology_levels=levels,
                node_resources={"h100": NodeResources(cpus=224, memory_gib=2048)},
            ),
        )
    )
    assert [lvl["nodeLabel"] for lvl in named(r, "Topology", "onprem-network")["spec"]["levels"]] == list(levels)
    assert named(r, "ResourceFlavor", "h100")["spec"]["topologyName"] == "onprem-network"
    resources = named(r, "ClusterQueue", "h100")["spec"]["resourceGroups"][0]["flavors"][0]["resources"]
    assert resources[:2] == [{"name": "cpu", "nominalQuota": "896"}, {"name": "memory", "nominalQuota": "8192Gi"}]
    assert r.diagnostics == []


def test_kueue_objects(snapshot):
    kinds = ("Topology", "ResourceFlavor", "ClusterQueue")
    assert {
        "aws": [m for kind in kinds for m in by_kind(aws_run(), kind) if "vision" not in m["metadata"]["name"]],
        "onprem": [m for kind in kinds for m in by_kind(onprem_run(), kind) if "nlp" not in m["metadata"]["name"]],
    } == snapshot


# ---------------------------------------------------------------------------- tenancy


def test_tenancy_namespace_is_restricted_at_the_clusters_policy_version():
    labels = named(onprem_run(), "Namespace", "team-nlp")["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.32"
    assert labels["aiinfra.dev/team"] == "nlp"


def test_fabric_clusters_get_the_admission_policy_bound_to_namespaces_labelled_for_it():
    policy = named(gcp_run(), "ValidatingAdmissionPolicy", admission.POLICY_NAME)
    assert policy["apiVersion"] == "admissionregistration.k8s.io/v1"
    # One gate per fabric naming the pools whose pods may take its exceptions, one per sidecar it runs.
    variables = {v["name"]: v["expression"] for v in policy["spec"]["variables"]}
    assert list(variables) == ["on_tcpxo", "tcpxo_daemon_on_tcpxo", "on_rdma"]
    assert variables["on_tcpxo"].endswith('in ["a3mega"]') and variables["on_rdma"].endswith('in ["a3ultra"]')
    assert policy["spec"]["matchConstraints"]["resourceRules"][0]["resources"] == ["pods", "pods/ephemeralcontainers"]
    binding = named(gcp_run(), "ValidatingAdmissionPolicyBinding", admission.POLICY_NAME)["spec"]
    assert binding == {
        "policyName": admission.POLICY_NAME,
        "validationActions": ["Deny"],
        "matchResources": {"namespaceSelector": {"matchLabels": {"aiinfra.dev/pod-security-exceptions": "fabric"}}},
    }
    assert [
        v["name"] for v in named(onprem_run(), "ValidatingAdmissionPolicy", admission.POLICY_NAME)["spec"]["variables"]
    ] == ["on_infiniband"]
    # EFA needs nothing beyond restricted: no policy.
    assert by_kind(aws_run(), "ValidatingAdmissionPolicy") == []


def bare_tenancy(**overrides) -> Tenancy:
    """A team on a cluster without accelerators: namespace, limits, network policies."""
    args = TenancyArgs(provider=provider(), team="nlp", kubernetes_version="1.34", accelerator_classes={}, **overrides)
    return Tenancy("t", args)


def test_a_fabric_teams_namespace_is_admitted_by_the_policy_and_still_warned_at_restricted():
    labels = named(run(lambda: bare_tenancy(fabric_admission=True)), "Namespace", "team-nlp")["metadata"]["labels"]
    assert labels["aiinfra.dev/pod-security-exceptions"] == "fabric"
    assert [labels[f"pod-security.kubernetes.io/{m}"] for m in ("enforce", "warn", "audit")] == [
        "privileged",
        "restricted",
        "restricted",
    ]
    restricted = named(gcp_run(), "Namespace", "team-vision")["metadata"]["labels"]
    assert "aiinfra.dev/pod-security-exceptions" not in restricted


def test_tenancy_refuses_a_privileged_namespace():
    err, _ = caught(lambda: bare_tenancy(pod_security="privileged"))
    assert [str(p) for p in err.problems] == [
        "t.pod_security: 'privileged' — leaves every pod of the team without pod security; for a fabric's host "
        "access set fabric_admission, which admits exactly the fabric's needs"
    ]


def test_tenancy_quota_counts_accelerators_by_type_and_the_nodes_they_come_with():
    aws = named(aws_run(), "ResourceQuota", "team-quota")["spec"]["hard"]
    # 16 H100 = 2 p5.48xlarge nodes (2 x 192 vCPU, 2 x 2048 GiB) + 8 CPUs / 32 GiB extra.
    assert aws == {
        "pods": "500",
        "requests.cpu": "392",
        "requests.memory": "4128Gi",
        "requests.nvidia.com/gpu": "16",
    }
    gcp = named(gcp_run(), "ResourceQuota", "team-quota")["spec"]["hard"]
    assert gcp["requests.nvidia.com/gpu"] == "16" and gcp["requests.google.com/tpu"] == "8"
    # 2 a3-megagpu-8g (208 vCPU, 1872 GiB) + 2 ct5p-hightpu-4t TPU hosts (208 vCPU, 448 GiB) + 8 CPUs / 32 GiB.
    assert (gcp["requests.cpu"], gcp["requests.memory"]) == ("840", "4672Gi")
    onprem = named(onprem_run(), "ResourceQuota", "team-quota")["spec"]["hard"]
    assert onprem == {"pods": "500", "requests.nvidia.com/gpu": "16"}
    limits = named(aws_run(), "LimitRange", "team-defaults")["spec"]["limits"][0]
    assert limits["type"] == "Container" and limits["default"] == {"cpu": "2", "memory": "4Gi"}


def test_tenancy_network_policies_deny_by_default_and_allow_dns_the_namespace_and_the_lake():
    r = onprem_run()
    policies = {m["metadata"]["name"]: m["spec"] for m in manifests(r, kind="NetworkPolicy")}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = policies["allow-dns"]["egress"][0]
    assert dns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert policies["allow-same-namespace"]["ingress"] == [{"from": [{"podSelector": {}}]}]
    assert policies["allow-egress"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": "10.20.0.0/24"}}], "ports": [{"protocol": "TCP", "port": 443}]},
        {
            "to": [{"ipBlock": {"cidr": "52.216.0.0/15"}}],
            "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 80}],
        },
    ]
    assert "allow-egress" not in {m["metadata"]["name"] for m in manifests(aws_run(), kind="NetworkPolicy")}


def test_tenancy_may_call_the_listed_servers_of_other_teams_and_nothing_else_there():
    server = ServiceEgress(namespace="team-vision", pod_labels={"app.kubernetes.io/instance": "chat"}, port=8000)
    specs = network_policy_specs((), (server,))
    assert specs["allow-services"] == {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "team-vision"}},
                        "podSelector": {"matchLabels": {"app.kubernetes.io/instance": "chat"}},
                    }
                ],
                "ports": [{"protocol": "TCP", "port": 8000}],
            }
        ],
    }
    assert "allow-services" not in network_policy_specs(())
    policies = [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": n}, "spec": spec}
        for n, spec in specs.items()
    ]
    assert assert_valid(policies, SUPPORTED_KUBERNETES[-1]) == 4


def test_tenancy_local_queue_is_bound_to_a_team_queue_borrowing_up_to_the_quota():
    r = aws_run()
    local = named(r, "LocalQueue", "h100")
    assert local["metadata"]["namespace"] == "team-vision"
    assert local["spec"] == {"clusterQueue": "vision-h100"}
    team = named(r, "ClusterQueue", "vision-h100")["spec"]
    assert team["cohortName"] == "h100"  # the pool queue's cohort
    assert team["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "team-vision"}}
    gpu = [
        res for f in team["resourceGroups"][0]["flavors"] for res in f["resources"] if res["name"] == "nvidia.com/gpu"
    ]
    assert gpu == [
        {"name": "nvidia.com/gpu", "nominalQuota": 0, "borrowingLimit": 16},
        {"name": "nvidia.com/gpu", "nominalQuota": 0, "borrowingLimit": 2},  # h100-dev holds only 2
    ]
    # A zero quota gets no queue at all.
    assert [m["metadata"]["name"] for m in manifests(r, kind="LocalQueue")] == ["h100"]
    tenancy = one(r, "aiinfra:kubernetes:Tenancy")
    assert tenancy.outputs["localQueues"] == {"H100": "h100"}


@pytest.mark.parametrize(
    ("scenario", "annotations"),
    [
        (aws_run, {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/vision"}),
        (gcp_run, {"iam.gke.io/gcp-service-account": "vision@p.iam.gserviceaccount.com"}),
    ],
)
def test_tenancy_service_account_carries_the_workload_identity(scenario, annotations):
    account = named(scenario(), "ServiceAccount", "workload")
    assert account["metadata"]["annotations"] == annotations
    assert account["automountServiceAccountToken"] is False


def test_a_pull_secret_becomes_a_dockerconfigjson_secret_on_the_workload_account_and_stays_secret():
    config = '{"auths": {"harbor.rack.example.com": {"auth": "cm9ib3Q6dG9rZW4="}}}'
    r = run(lambda: bare_tenancy(image_pull_secret=config))
    secret = named(r, "Secret", "registry-pull")
    assert secret["type"] == "kubernetes.io/dockerconfigjson" and secret["metadata"]["namespace"] == "team-nlp"
    assert named(r, "ServiceAccount", "workload")["imagePullSecrets"] == [{"name": "registry-pull"}]
    (recorded,) = of_type(r, "kubernetes:core/v1:Secret")
    assert config not in json.dumps(recorded.inputs, default=str)  # recorded as a secret, never in clear
    plain = run(bare_tenancy)
    assert manifests(plain, kind="Secret") == []
    assert "imagePullSecrets" not in named(plain, "ServiceAccount", "workload")


def test_cluster_quotas_keep_only_models_the_cluster_has_up_to_its_capacity():
    classes = {"H100": SimpleNamespace(capacity=32), "TPU-v5p": SimpleNamespace(capacity=8)}
    assert cluster_quotas({"H100": 16, "TPU-v5p": 64, "L4": 2}, classes) == {"H100": 16, "TPU-v5p": 8}


def test_tenancy(snapshot):
    r = onprem_run()
    tenancy_urn = one(r, "aiinfra:kubernetes:Tenancy").urn
    objects = [manifest(x) for x in r.resources if x.parent == tenancy_urn]
    assert sorted(objects, key=lambda m: (m["kind"], m["metadata"]["name"])) == snapshot


# ---------------------------------------------------------------------------- validity of everything rendered


@pytest.mark.parametrize(("scenario", "version"), [(onprem_run, "1.32"), (aws_run, "1.33"), (gcp_run, "1.34")])
def test_every_rendered_object_is_valid_for_the_clusters_kubernetes_version(scenario, version):
    found = manifests(scenario())
    kinds = {m["kind"] for m in found}
    assert {"ResourceFlavor", "ClusterQueue", "LocalQueue", "Namespace", "NetworkPolicy", "ResourceQuota"} <= kinds
    assert assert_valid(found, version) == len(found)


def test_onprem_objects_are_valid_on_every_supported_kubernetes_version():
    for version in SUPPORTED_KUBERNETES:
        assert_valid(manifests(onprem_run()), version)
    assert {"NicClusterPolicy", "DaemonSet", "StorageClass", "ClusterRoleBinding"} <= {
        m["kind"] for m in manifests(onprem_run())
    }


def test_schema_validation_catches_what_an_api_server_would_reject():
    flavor = named(aws_run(), "ResourceFlavor", "h100")
    assert problems(flavor, "1.33") == []
    assert problems({**flavor, "spec": {**flavor["spec"], "nodeLabel": {}}}, "1.33") == [
        "spec: Additional properties are not allowed ('nodeLabel' was unexpected)"
    ]
    queue = named(aws_run(), "ClusterQueue", "vision-h100")
    assert problems({**queue, "spec": {k: v for k, v in queue["spec"].items() if k != "cohortName"}}, "1.33") == [
        "spec: borrowingLimit must be nil when cohort is empty"
    ]
    daemonset = named(onprem_run(), "DaemonSet", "local-nvme-provisioner")
    broken = {**daemonset, "spec": {**daemonset["spec"], "selector": "app"}}
    assert problems(broken, "1.32") == ["spec.selector: 'app' is not of type 'object', 'null'"]
    assert problems({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}, "1.33") == [
        "no schema for example.com/v1 Widget (Kubernetes 1.33, tests/data/crds/)"
    ]


def test_every_container_shipped_has_limits_and_every_image_a_pinned_tag():
    for r in (onprem_run(), aws_run()):
        for m in manifests(r, kind="DaemonSet"):
            for container in m["spec"]["template"]["spec"]["containers"]:
                assert set(container["resources"]["limits"]) == {"cpu", "memory"}
                assert ":" in container["image"] and not container["image"].endswith(":latest")

        def resources_blocks(value):
            if isinstance(value, dict):
                for key, inner in value.items():
                    if key in ("resources", "containerResources") and isinstance(inner, dict | list):
                        yield inner
                    else:
                        yield from resources_blocks(inner)
            elif isinstance(value, list):
                for inner in value:
                    yield from resources_blocks(inner)

        for x in of_type(r, RELEASE):
            blocks = list(resources_blocks(manifest(x)["values"]))
            assert blocks, f"{x.inputs['name']}: no resources set"
            for block in blocks:
                assert all(
                    set(b["limits"]) == {"cpu", "memory"} for b in (block if isinstance(block, list) else [block])
                )


# ---------------------------------------------------------------------------- errors


def test_platform_layer_refuses_bad_arguments_before_creating_anything():
    err, ran = caught(
        lambda: PlatformLayer(
            "p",
            PlatformLayerArgs(
                provider=provider(),
                cloud="aws",
                kubernetes_version="1.29",
                pools=(cloud_pool("aws", "h100", "H100:8"),),
                node_resources={"nope": NodeResources(cpus=1, memory_gib=1)},
                topology_levels=("kubernetes.io/hostname", "rack"),
                gpu_operator=True,
            ),
        )
    )
    assert [str(p) for p in err.problems] == [
        f"p.kubernetes_version: '1.29' — the platform layer supports {', '.join(SUPPORTED_KUBERNETES)}",
        "p.node_resources.nope: no such pool; pools: h100",
        "p.topology_levels: kubernetes.io/hostname can only be the last (finest) level",
        "p.gpu_operator: on-prem only: the aws adapter brings the device plugin its nodes need",
    ]
    assert [x.type for x in ran.resources if x.type.startswith(("aiinfra:", "kubernetes:"))] == []


def test_every_supported_kubernetes_version_has_admission_policies_and_older_ones_are_refused_with_fabrics():
    assert all(admission.supports_admission_policies(v) for v in SUPPORTED_KUBERNETES)
    err, _ = caught(
        lambda: PlatformLayer(
            "p", PlatformLayerArgs(provider=provider(), cloud="gcp", kubernetes_version="1.29", pools=GCP_POOLS)
        )
    )
    assert [str(p) for p in err.problems][1] == (
        "p.kubernetes_version: '1.29' — pools a3mega, a3ultra need the fabric admission policy, and "
        "ValidatingAdmissionPolicy is GA only from Kubernetes 1.30"
    )


def test_platform_layer_refuses_on_prem_pools_that_select_no_nodes():
    err, _ = caught(
        lambda: PlatformLayer(
            "p",
            PlatformLayerArgs(
                provider=provider(),
                cloud="onprem",
                kubernetes_version="1.33",
                pools=(onprem_pool(node_selector={}),),
            ),
        )
    )
    assert [p.path for p in err.problems] == ["p.pools.h100.node_selector"]
    assert "empty — an on-prem pool's selector must match its existing nodes" in err.problems[0].message


def test_tenancy_refuses_quotas_the_cluster_cannot_hold_and_bad_endpoints():
    def program():
        platform = PlatformLayer(
            "p", PlatformLayerArgs(provider=provider(), cloud="aws", kubernetes_version="1.33", pools=AWS_POOLS)
        )
        Tenancy(
            "t",
            TenancyArgs(
                provider=provider(),
                team="nlp",
                kubernetes_version="1.35",
                accelerator_classes=platform.accelerator_classes,
                quotas={"H100": 40, "TPU-v5p": 8},
                egress=(EgressRule(cidr="0.0.0.0/0"), EgressRule(cidr="lake.example.com", ports=(0,))),
                pod_security="open",
            ),
        )

    err, ran = caught(program)
    assert [str(p) for p in err.problems] == [
        f"t.kubernetes_version: '1.35' — supported: {', '.join(SUPPORTED_KUBERNETES)}",
        "t.pod_security: 'open' — choose one of restricted, baseline, privileged",
        "t.quotas.H100: 40 — above the cluster's declared H100 capacity of 34 (4 x 8 + 2 x 1); lower the quota "
        "or declare more nodes",
        "t.quotas.TPU-v5p: 8 — the cluster has no TPU-v5p pool; it has: H100 (34), L4 (2)",
        "t.egress[0].cidr: 0.0.0.0/0 — opens egress to everything; list the endpoints' networks",
        "t.egress[1].cidr: 'lake.example.com' — not a CIDR",
        "t.egress[1].ports: [0] — give ports between 1 and 65535",
    ]
    assert of_type(ran, "aiinfra:kubernetes:Tenancy") == []
    assert [x.name for x in ran.resources if x.name.startswith("t-")] == []  # the platform's objects only
