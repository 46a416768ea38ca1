"""The platform layer every cluster carries, cloud or on-prem, installed through the cluster's own provider.

- JobSet controller and Kueue (pinned Helm releases, components.kubernetes.versions).
- Kueue objects: a ResourceFlavor per accelerator pool (its node labels and tolerations), a ClusterQueue per
  pool class (accelerator model) holding the class's declared capacity, and a Topology for
  Topology-Aware Scheduling where the cloud labels nodes with their network position.
- GPU metrics: the DCGM exporter chart where nothing else provides it, and a Prometheus scrape config.
- On-prem clusters: `OnPremAddons` (GPU Operator, Network Operator + NicClusterPolicy, local NVMe).
- Fabric pod admission: where a pool's fabric needs more than Pod Security `restricted` (TCPXO, GKE RDMA,
  InfiniBand/RoCE), a ValidatingAdmissionPolicy and its binding (`components.kubernetes.admission`) that hold
  the pods of namespaces labelled for it to `restricted` plus exactly that fabric's wiring.

Quota model (see `components.kubernetes.tenancy`): the pool ClusterQueue owns the capacity as
nominalQuota and admits no namespace itself; each team gets a ClusterQueue in the same cohort with no
quota of its own, borrowing up to its team quota. Teams are capped at their quota, and together can never
exceed the declared capacity, because borrowing only draws on the pool queue's unused quota.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

import pulumi
import pulumi_kubernetes as k8s
import yaml

from aiinfra.core.catalog import Fabric
from aiinfra.core.catalog.data import SUPPORTED_KUBERNETES
from aiinfra.core.vocab import CLOUDS, Cloud
from components.common import ArgProblems
from components.contracts import SYSTEM_NAMESPACE, NodePoolArgs
from components.kubernetes import admission, onprem, onprem_addons, versions
from components.kubernetes.meta import (
    CRITICAL_ADDONS_TOLERATION,
    POOL_LABEL,
    accelerator_resource,
    accelerator_tolerations,
    container_resources,
    dns_name,
    object_labels,
    taint_tolerations,
    valid_label_key,
)

HOSTNAME_LABEL = "kubernetes.io/hostname"
TOPOLOGY_LEVELS: dict[str, tuple[str, ...]] = {
    # EKS labels nodes of instance types with EC2 instance topology, layer 1 the farthest from the node.
    "aws": (
        "topology.k8s.aws/network-node-layer-1",
        "topology.k8s.aws/network-node-layer-2",
        "topology.k8s.aws/network-node-layer-3",
        HOSTNAME_LABEL,
    ),
    # GKE labels A3 Ultra / A4 nodes (RDMA) with their reserved block, sub-block and host.
    "gcp": (
        "cloud.google.com/gce-topology-block",
        "cloud.google.com/gce-topology-subblock",
        "cloud.google.com/gce-topology-host",
        HOSTNAME_LABEL,
    ),
}
TOPOLOGY_SOURCES = {
    "aws": "https://docs.aws.amazon.com/eks/latest/userguide/ml-workload-topology.html (2026-11)",
    "gcp": "https://cloud.google.com/ai-hypercomputer/docs/workloads/schedule-gke-workloads-tas (2026-11)",
}
TOPOLOGY_FABRICS: dict[str, tuple[Fabric, ...]] = {"aws": (Fabric.EFA,), "gcp": (Fabric.RDMA,)}
"""Pools whose nodes carry the cloud's topology labels: EFA instance types on AWS, A3 Ultra/A4 on GKE.
Flavors of other pools get no topology (a TAS flavor only admits onto nodes that have every level)."""
MAX_TOPOLOGY_LEVELS = 16
MAX_FLAVOR_TOLERATIONS = 8
EXCLUDED_RESOURCE_PREFIXES = ("vpc.amazonaws.com/efa", "rdma/", "hugepages-", "networking.gke.io.networks/")
"""Per-node fabric devices and hugepages Kueue does not count: a pod owning a node's accelerators owns its
fabric too, and a resource no ClusterQueue covers would make every workload requesting it inadmissible."""
UNBOUNDED_CPU = "100k"
UNBOUNDED_MEMORY = "1Pi"
"""Quota for the cpu/memory of pools whose node size is not known (on-prem, TPU hosts): never binds."""
RESTRICTED_NAMESPACE_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
}
SCRAPE_CONFIG_NAME = "aiinfra-prometheus-scrape"
DCGM_SCRAPE = {
    "job_name": "dcgm-exporter",
    "scrape_interval": "15s",
    "kubernetes_sd_configs": [{"role": "endpoints"}],
    "relabel_configs": [
        # The dcgm-exporter chart's Service (app.kubernetes.io/name) or the GPU Operator's (app).
        {
            "source_labels": [
                "__meta_kubernetes_service_label_app_kubernetes_io_name",
                "__meta_kubernetes_service_label_app",
            ],
            "regex": "dcgm-exporter;.*|.*;nvidia-dcgm-exporter",
            "action": "keep",
        },
        {"source_labels": ["__meta_kubernetes_endpoint_port_name"], "regex": "metrics|gpu-metrics", "action": "keep"},
        {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"},
    ],
}


@dataclass(frozen=True, kw_only=True)
class NodeResources:
    """Allocatable size of one node of a pool."""

    cpus: int
    memory_gib: int


@dataclass(frozen=True, kw_only=True)
class FlavorQuota:
    """One pool's share of its class's ClusterQueue."""

    flavor: str
    """ResourceFlavor name (the pool's name)."""
    nodes: int
    accelerators_per_node: int
    node: NodeResources | None
    """None when the node size is unknown (on-prem, TPU hosts): cpu/memory quotas then never bind."""

    @property
    def accelerators(self) -> int:
        return self.nodes * self.accelerators_per_node

    @property
    def cpu(self) -> str:
        return str(self.nodes * self.node.cpus) if self.node else UNBOUNDED_CPU

    @property
    def memory(self) -> str:
        return f"{self.nodes * self.node.memory_gib}Gi" if self.node else UNBOUNDED_MEMORY


@dataclass(frozen=True, kw_only=True)
class AcceleratorClass:
    """The pools of one accelerator model on a cluster, as Kueue sees them (plain data Tenancy reuses)."""

    model: str
    """Catalog accelerator model: H100, A100-80GB, TPU-v5p..."""
    resource: str
    """nvidia.com/gpu or google.com/tpu."""
    queue: str
    """Name of the class's ClusterQueue, of its cohort and of the teams' LocalQueues for it."""
    flavors: tuple[FlavorQuota, ...]

    @property
    def cohort(self) -> str:
        return self.queue

    @property
    def capacity(self) -> int:
        """Accelerators the cluster declares for this model: pool max nodes x accelerators per node."""
        return sum(f.accelerators for f in self.flavors)


def machine_resources(pool: NodePoolArgs) -> NodeResources | None:
    """vCPUs and memory of the pool's nodes (catalog or spec); None when nobody said."""
    shape = pool.shape
    return NodeResources(cpus=shape.vcpus, memory_gib=shape.memory_gib) if shape.vcpus and shape.memory_gib else None


def accelerator_classes(
    pools: tuple[NodePoolArgs, ...], node_resources: Mapping[str, NodeResources] | None = None
) -> dict[str, AcceleratorClass]:
    """Accelerator pools grouped by model (CPU pools are not queued), in pool order."""
    grouped: dict[str, list[NodePoolArgs]] = {}
    for pool in pools:
        if pool.shape.accelerator != "cpu":
            grouped.setdefault(pool.shape.accelerator, []).append(pool)
    overrides = node_resources or {}
    return {
        model: AcceleratorClass(
            model=model,
            resource=accelerator_resource(members[0].shape),
            queue=dns_name(model),
            flavors=tuple(
                FlavorQuota(
                    flavor=p.name,
                    nodes=p.max_nodes,
                    accelerators_per_node=p.shape.accelerators_per_node,
                    node=overrides.get(p.name) or machine_resources(p),
                )
                for p in members
            ),
        )
        for model, members in grouped.items()
    }


def resource_flavor_spec(pool: NodePoolArgs, cloud: str, topology: str | None = None) -> dict:
    """A pool as a Kueue ResourceFlavor: its nodes' labels, and tolerations for their taints (Kueue adds
    them to the pods it admits onto the flavor)."""
    node_labels = dict(sorted(pool.node_selector.items())) if cloud == "onprem" else {POOL_LABEL: pool.name}
    spec: dict = {"nodeLabels": node_labels}
    tolerations = accelerator_tolerations(pool.shape) + taint_tolerations(pool.taints)
    if tolerations:
        spec["tolerations"] = tolerations
    if topology:
        spec["topologyName"] = topology
    return spec


def flavor_resources(cls: AcceleratorClass, flavor: FlavorQuota, *, team_cap: int | None = None) -> list[dict]:
    """One flavor's quotas for cpu, memory and the accelerator. With `team_cap`, the flavor of a team queue:
    no quota of its own, borrowing at most `team_cap` accelerators (cpu/memory borrowing unlimited)."""
    if team_cap is None:
        return [
            {"name": "cpu", "nominalQuota": flavor.cpu},
            {"name": "memory", "nominalQuota": flavor.memory},
            {"name": cls.resource, "nominalQuota": flavor.accelerators},
        ]
    return [
        {"name": "cpu", "nominalQuota": 0},
        {"name": "memory", "nominalQuota": 0},
        {"name": cls.resource, "nominalQuota": 0, "borrowingLimit": min(team_cap, flavor.accelerators)},
    ]


def pool_cluster_queue_spec(cls: AcceleratorClass) -> dict:
    """The class's ClusterQueue: the declared capacity as nominal quota, lent to the teams' queues of its
    cohort. No namespaceSelector, so no namespace submits to it directly."""
    return {
        "cohortName": cls.cohort,
        "queueingStrategy": "BestEffortFIFO",
        "resourceGroups": [
            {
                "coveredResources": ["cpu", "memory", cls.resource],
                "flavors": [{"name": f.flavor, "resources": flavor_resources(cls, f)} for f in cls.flavors],
            }
        ],
    }


def kueue_manager_config(*, excluded_prefixes: tuple[str, ...] = EXCLUDED_RESOURCE_PREFIXES) -> str:
    """Kueue's Configuration (config.kueue.x-k8s.io/v1beta2): the chart's defaults, with only the JobSet and
    Job integrations (no cluster-wide Pod webhook), all-or-nothing start-up of admitted workloads, and
    fabric devices left out of quota."""
    config = {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": ":8443"},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "controller": {
            "groupKindConcurrency": {
                "Job.batch": 5,
                "Pod": 5,
                "Workload.kueue.x-k8s.io": 5,
                "LocalQueue.kueue.x-k8s.io": 1,
                "ClusterQueue.kueue.x-k8s.io": 1,
                "ResourceFlavor.kueue.x-k8s.io": 1,
            }
        },
        "clientConnection": {"qps": 50, "burst": 100},
        # A gang whose pods are not all running within the timeout is evicted and requeued, releasing quota.
        "waitForPodsReady": {"timeout": "10m"},
        "integrations": {"frameworks": ["batch/job", "jobset.x-k8s.io/jobset"]},
        "resources": {"excludeResourcePrefixes": list(excluded_prefixes)},
    }
    return yaml.safe_dump(config, sort_keys=False)


@dataclass(frozen=True, kw_only=True)
class PlatformLayerArgs:
    provider: k8s.Provider
    """The cluster's Kubernetes provider (`Cluster.kubernetes_provider`); every object goes through it."""
    cloud: Cloud
    """aws, gcp, azure or onprem: decides device plugins, metrics source and topology labels."""
    kubernetes_version: str
    """The cluster's Kubernetes minor version; must be in aiinfra.core.catalog.data.SUPPORTED_KUBERNETES."""
    pools: tuple[NodePoolArgs, ...] = ()
    """The cluster's node pools. Defaults to none: only JobSet and Kueue, without queues."""
    system_namespace: pulumi.Input[str] = SYSTEM_NAMESPACE
    """Privileged namespace for node agents (DCGM exporter, local NVMe provisioner), and the scrape config.
    Defaults to `aiinfra-system`; pass `Cluster.system_namespace.metadata.name` to wait for it."""
    node_resources: Mapping[str, NodeResources] = field(default_factory=dict)
    """Per pool name, the size of one node. Defaults to the catalog's machine type; pools it does not know
    (on-prem, TPU hosts) get cpu/memory quotas that never bind, with a warning."""
    topology_levels: tuple[str, ...] | None = None
    """Node labels from the broadest network domain to the host, for Topology-Aware Scheduling of every GPU
    pool (their nodes must all carry them). Defaults to the cloud's own labels, for the pools whose nodes
    have them (AWS EFA pools, GKE RDMA pools); none on Azure and on-prem, whose nodes carry no standard
    topology labels."""
    gpu_operator: bool | None = None
    """Install the NVIDIA GPU Operator. Defaults to on-prem clusters with GPU pools (the Azure adapter
    installs its own; EKS and GKE use their device plugins). On-prem only."""
    dcgm_exporter: bool | None = None
    """Install the standalone DCGM exporter chart on GPU nodes. Defaults to AWS clusters with GPU pools:
    on-prem and Azure get the GPU Operator's exporter, GKE its managed DCGM metrics."""
    prometheus_operator: bool = False
    """Let charts create ServiceMonitors. Defaults to false: the Prometheus Operator CRDs are not assumed,
    and a ConfigMap with a plain Prometheus scrape config is written instead (always)."""
    local_nvme_dir: str = "/mnt/local-nvme"
    """On-prem: host directory the local NVMe provisioner discovers volumes under."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """The cluster's tags, as labels on every object (values made label-safe)."""


def platform_problems(name: str, args: PlatformLayerArgs) -> ArgProblems:
    problems = ArgProblems(name)
    problems.check(args.cloud in CLOUDS, "cloud", f"{args.cloud!r} — choose one of {', '.join(CLOUDS)}")
    problems.check(
        args.kubernetes_version in SUPPORTED_KUBERNETES,
        "kubernetes_version",
        f"{args.kubernetes_version!r} — the platform layer supports {', '.join(SUPPORTED_KUBERNETES)}",
    )
    fabrics = admission.fabric_exceptions(args.pools)
    problems.check(
        not fabrics or admission.supports_admission_policies(args.kubernetes_version),
        "kubernetes_version",
        f"{args.kubernetes_version!r} — pools {', '.join(p for f in fabrics for p in f.pools)} need the fabric "
        f"admission policy, and ValidatingAdmissionPolicy is GA only from Kubernetes "
        f"{'.'.join(map(str, admission.MIN_KUBERNETES))}",
    )
    names = [p.name for p in args.pools]
    problems.check(len(names) == len(set(names)), "pools", f"pool names repeat: {names}")
    for pool in args.pools:
        path = ("pools", pool.name)
        if args.cloud == "onprem":
            onprem.pool_problems(problems, path, pool)
        else:
            problems.check(
                not pool.node_selector,
                (*path, "node_selector"),
                f"only on-prem pools select existing nodes; {args.cloud} pools are labelled {POOL_LABEL}",
            )
        tolerations = accelerator_tolerations(pool.shape) + taint_tolerations(pool.taints)
        problems.check(
            len(tolerations) <= MAX_FLAVOR_TOLERATIONS,
            (*path, "taints"),
            f"{len(pool.taints)} taints — a Kueue ResourceFlavor tolerates at most {MAX_FLAVOR_TOLERATIONS}",
        )
    for pool_name, size in args.node_resources.items():
        problems.check(pool_name in names, ("node_resources", pool_name), f"no such pool; pools: {', '.join(names)}")
        problems.check(
            size.cpus > 0 and size.memory_gib > 0, ("node_resources", pool_name), "cpus and memory_gib must be > 0"
        )
    levels = args.topology_levels
    if levels is not None:
        problems.check(
            0 < len(levels) <= MAX_TOPOLOGY_LEVELS,
            "topology_levels",
            f"give 1 to {MAX_TOPOLOGY_LEVELS} node labels, broadest first",
        )
        problems.check(len(set(levels)) == len(levels), "topology_levels", f"{list(levels)} — levels repeat")
        problems.check(
            HOSTNAME_LABEL not in levels[:-1],
            "topology_levels",
            f"{HOSTNAME_LABEL} can only be the last (finest) level",
        )
        for level in levels:
            problems.check(valid_label_key(level), "topology_levels", f"{level!r} — not a node label key")
    problems.check(
        not (args.gpu_operator and args.cloud != "onprem"),
        "gpu_operator",
        f"on-prem only: the {args.cloud} adapter brings the device plugin its nodes need",
    )
    return problems


class PlatformLayer(pulumi.ComponentResource):
    """JobSet, Kueue (flavors, queues, topology), GPU metrics and, on-prem, the operators and local NVMe."""

    accelerator_classes: dict[str, AcceleratorClass]
    """Per accelerator model: its ClusterQueue, cohort, flavors and capacity (for `Tenancy`)."""
    kueue: k8s.helm.v3.Release
    jobset: k8s.helm.v3.Release
    cluster_queues: dict[str, k8s.apiextensions.CustomResource]
    resource_flavors: dict[str, k8s.apiextensions.CustomResource]
    topology: k8s.apiextensions.CustomResource | None
    onprem_addons: onprem_addons.OnPremAddons | None
    dcgm_exporter: k8s.helm.v3.Release | None
    """NVIDIA's DCGM exporter, on clusters with GPU pools where no operator brings one (EKS by default)."""
    scrape_config: k8s.core.v1.ConfigMap | None
    """Prometheus scrape configuration for the GPU metrics, on clusters with GPU pools."""
    pod_admission: k8s.admissionregistration.v1.ValidatingAdmissionPolicy | None
    """The fabric admission policy (bound to namespaces labelled `aiinfra.dev/pod-security-exceptions: fabric`),
    on clusters with a pool whose fabric needs more than Pod Security `restricted`."""

    def __init__(self, name: str, args: PlatformLayerArgs, opts: pulumi.ResourceOptions | None = None):
        platform_problems(name, args).raise_if_any()  # before registering anything
        super().__init__("aiinfra:kubernetes:PlatformLayer", name, None, opts)
        self._labels = object_labels(args.tags)
        self._child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        self.accelerator_classes = accelerator_classes(args.pools, args.node_resources)
        for cls in self.accelerator_classes.values():
            for flavor in cls.flavors:
                if flavor.node is None:
                    pulumi.log.warn(
                        f"{name}: the node size of pool {flavor.flavor} is unknown, so Kueue bounds it by "
                        f"{cls.resource} only; give the pool its node size (node: {{cpus, memory_gib}} in the "
                        "stack) for cpu/memory quotas",
                        self,
                    )
        gpu_pools = tuple(p for p in args.pools if p.shape.is_gpu)

        self.jobset = self._release(name, "jobset", versions.JOBSET, self._jobset_values(args))
        self.kueue = self._release(name, "kueue", versions.KUEUE, self._kueue_values(args), depends_on=[self.jobset])
        after_kueue = pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(depends_on=[self.kueue]))
        self.topology = self._topology(name, args, after_kueue)
        self.resource_flavors = self._flavors(name, args, after_kueue)
        self.cluster_queues = {
            model: self._custom(
                f"{name}-queue-{cls.queue}",
                "ClusterQueue",
                {"name": cls.queue, "labels": self._labels},
                pool_cluster_queue_spec(cls),
                pulumi.ResourceOptions.merge(
                    after_kueue, pulumi.ResourceOptions(depends_on=list(self.resource_flavors.values()))
                ),
            )
            for model, cls in self.accelerator_classes.items()
        }

        self.onprem_addons = None
        if args.cloud == "onprem":
            self.onprem_addons = onprem_addons.OnPremAddons(
                f"{name}-onprem",
                onprem_addons.OnPremAddonsArgs(
                    provider=args.provider,
                    pools=args.pools,
                    system_namespace=args.system_namespace,
                    gpu_operator=args.gpu_operator is not False,
                    prometheus_operator=args.prometheus_operator,
                    local_nvme_dir=args.local_nvme_dir,
                    labels=args.tags,
                ),
                pulumi.ResourceOptions(parent=self),
            )
        dcgm = args.dcgm_exporter if args.dcgm_exporter is not None else args.cloud == "aws"
        self.dcgm_exporter = None
        if dcgm and gpu_pools:
            self.dcgm_exporter = self._dcgm_exporter(name, args, gpu_pools)
        self.scrape_config = None
        if gpu_pools:
            self.scrape_config = k8s.core.v1.ConfigMap(
                f"{name}-scrape-config",
                metadata={
                    "name": SCRAPE_CONFIG_NAME,
                    "namespace": args.system_namespace,
                    "labels": {**self._labels, "aiinfra.dev/prometheus-scrape-config": "true"},
                },
                data={"dcgm-exporter.yaml": yaml.safe_dump({"scrape_configs": [DCGM_SCRAPE]}, sort_keys=False)},
                opts=self._child,
            )
        self.pod_admission = self._pod_admission(name, admission.fabric_exceptions(args.pools))
        self.register_outputs(
            {
                "kueue": versions.KUEUE.version,
                "jobset": versions.JOBSET.version,
                "clusterQueues": sorted(cls.queue for cls in self.accelerator_classes.values()),
                "resourceFlavors": sorted(self.resource_flavors),
                "topology": self._topology_name,
                "dcgmExporter": self._dcgm_source(args, dcgm),
                "podAdmission": admission.POLICY_NAME if self.pod_admission else None,
            }
        )

    # ------------------------------------------------------------------ helpers

    def _namespace(self, name: str, namespace: str, labels: Mapping[str, str]) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            name, metadata={"name": namespace, "labels": {**self._labels, **labels}}, opts=self._child
        )

    def _pod_admission(
        self, name: str, fabrics: tuple[admission.FabricException, ...]
    ) -> k8s.admissionregistration.v1.ValidatingAdmissionPolicy | None:
        if not fabrics:
            return None
        metadata: k8s.meta.v1.ObjectMetaArgsDict = {"name": admission.POLICY_NAME, "labels": self._labels}
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-pod-admission",
            metadata=metadata,
            spec=cast(
                "k8s.admissionregistration.v1.ValidatingAdmissionPolicySpecArgsDict",
                admission.admission_policy_spec(fabrics),
            ),
            opts=self._child,
        )
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-pod-admission-binding",
            metadata=metadata,
            spec=cast(
                "k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpecArgsDict",
                admission.admission_binding_spec(),
            ),
            opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(depends_on=[policy])),
        )
        return policy

    def _release(
        self, name: str, role: str, chart: versions.HelmChart, values: dict, depends_on: list | None = None
    ) -> k8s.helm.v3.Release:
        namespace = self._namespace(f"{name}-{role}-ns", chart.namespace, RESTRICTED_NAMESPACE_LABELS)
        return k8s.helm.v3.Release(
            f"{name}-{role}",
            name=role,
            chart=chart.chart,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo) if chart.repo else None,
            namespace=namespace.metadata.name,
            values=values,
            opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(depends_on=depends_on or [])),
        )

    def _custom(
        self, name: str, kind: str, metadata: dict, spec: dict, opts: pulumi.ResourceOptions
    ) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            name, api_version=versions.KUEUE_API_VERSION, kind=kind, metadata=metadata, spec=spec, opts=opts
        )

    @staticmethod
    def _jobset_values(args: PlatformLayerArgs) -> dict:
        chart = versions.JOBSET
        return {
            "image": {"tag": chart.image_tag, "pullPolicy": "IfNotPresent"},
            "controller": {
                "resources": container_resources("500m", "512Mi", cpu_limit="2", memory_limit="2Gi"),
                "tolerations": [CRITICAL_ADDONS_TOLERATION],
            },
            "prometheus": {"enable": args.prometheus_operator},
        }

    @staticmethod
    def _kueue_values(args: PlatformLayerArgs) -> dict:
        chart = versions.KUEUE
        return {
            "controllerManager": {
                "tolerations": [CRITICAL_ADDONS_TOLERATION],
                "manager": {
                    "image": {
                        "repository": chart.image_repository,
                        "tag": chart.image_tag,
                        "pullPolicy": "IfNotPresent",
                    },
                    # TAS keeps every node and pod in memory: more than the chart's 512Mi.
                    "resources": container_resources("500m", "1Gi", cpu_limit="2", memory_limit="2Gi"),
                },
            },
            "enablePrometheus": args.prometheus_operator,
            "managerConfig": {"controllerManagerConfigYaml": kueue_manager_config()},
        }

    def _topology(
        self, name: str, args: PlatformLayerArgs, opts: pulumi.ResourceOptions
    ) -> k8s.apiextensions.CustomResource | None:
        levels = args.topology_levels if args.topology_levels is not None else TOPOLOGY_LEVELS.get(args.cloud)
        topology_pools = [p for p in args.pools if self._uses_topology(p, args)]
        self._topology_name = f"{args.cloud}-network" if levels and topology_pools else None
        if self._topology_name is None:
            return None
        return self._custom(
            f"{name}-topology",
            "Topology",
            {"name": self._topology_name, "labels": self._labels},
            {"levels": [{"nodeLabel": level} for level in levels or ()]},
            opts,
        )

    @staticmethod
    def _uses_topology(pool: NodePoolArgs, args: PlatformLayerArgs) -> bool:
        if not pool.shape.is_gpu:
            return False  # CPU pools are not queued; TPU slices place by their own topology labels
        if args.topology_levels is not None:
            return True
        return pool.shape.fabric in TOPOLOGY_FABRICS.get(args.cloud, ())

    def _flavors(
        self, name: str, args: PlatformLayerArgs, opts: pulumi.ResourceOptions
    ) -> dict[str, k8s.apiextensions.CustomResource]:
        flavors = {}
        depends = pulumi.ResourceOptions(depends_on=[self.topology]) if self.topology else pulumi.ResourceOptions()
        for pool in args.pools:
            if pool.shape.accelerator == "cpu":
                continue
            topology = self._topology_name if self._uses_topology(pool, args) else None
            flavors[pool.name] = self._custom(
                f"{name}-flavor-{pool.name}",
                "ResourceFlavor",
                {"name": pool.name, "labels": self._labels},
                resource_flavor_spec(pool, args.cloud, topology),
                pulumi.ResourceOptions.merge(opts, depends),
            )
        return flavors

    def _dcgm_exporter(
        self, name: str, args: PlatformLayerArgs, gpu_pools: tuple[NodePoolArgs, ...]
    ) -> k8s.helm.v3.Release:
        """The exporter only on GPU nodes: it cannot start without the NVIDIA driver."""
        chart = versions.DCGM_EXPORTER
        if args.cloud == "onprem":
            affinity = onprem.selector_affinity(gpu_pools)
        else:
            affinity = {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": POOL_LABEL, "operator": "In", "values": sorted(p.name for p in gpu_pools)}
                                ]
                            }
                        ]
                    }
                }
            }
        return k8s.helm.v3.Release(
            f"{name}-dcgm-exporter",
            name="dcgm-exporter",
            chart=chart.chart,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
            namespace=args.system_namespace,
            values={
                "resources": container_resources("100m", "512Mi", cpu_limit="500m", memory_limit="1Gi"),
                "serviceMonitor": {"enabled": args.prometheus_operator},
                "affinity": affinity,
                "tolerations": onprem.pool_tolerations(gpu_pools),
            },
            opts=self._child,
        )

    def _dcgm_source(self, args: PlatformLayerArgs, standalone: bool) -> str | None:
        if not any(p.shape.is_gpu for p in args.pools):
            return None
        if standalone:
            return f"dcgm-exporter chart {versions.DCGM_EXPORTER.version}"
        return {
            "onprem": "GPU Operator",
            "azure": "GPU Operator (Azure adapter)",
            "gcp": "GKE managed DCGM metrics (GCP adapter)",
        }.get(args.cloud)


def team_share(cls: AcceleratorClass, accelerators: int) -> tuple[int, int] | None:
    """(cpus, memory GiB) of the nodes that `accelerators` of `cls` come with, on its largest flavor;
    None when a flavor's node size is unknown."""
    sized = [(f, f.node) for f in cls.flavors if f.node is not None]
    if not sized or len(sized) < len(cls.flavors):
        return None
    best, node = max(sized, key=lambda pair: pair[1].cpus / max(pair[0].accelerators_per_node, 1))
    nodes = math.ceil(accelerators / max(best.accelerators_per_node, 1))
    return nodes * node.cpus, nodes * node.memory_gib
