"""The add-ons only on-prem clusters need: `OnPremAddons` installs what a cloud would otherwise provide: the
NVIDIA GPU Operator (driver, toolkit, device plugin, DCGM exporter), for InfiniBand/RoCE pools the NVIDIA Network
Operator with a NicClusterPolicy running the RDMA shared device plugin (`rdma/shared_ib`, `rdma/shared_roce`), and
local NVMe through sig-storage-local-static-provisioner behind the StorageClass `local-nvme`. The platform layer
(`components.kubernetes.platform.PlatformLayer`) creates it on every on-prem cluster.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

import pulumi
import pulumi_kubernetes as k8s
import yaml

from aiinfra.core.catalog import Fabric
from components.common import ArgProblems
from components.contracts import SYSTEM_NAMESPACE, NodePoolArgs
from components.kubernetes import versions
from components.kubernetes.fabric import RDMA_RESOURCES
from components.kubernetes.meta import container_resources, object_labels
from components.kubernetes.onprem import pool_problems, pool_tolerations, selector_affinity

RDMA_FABRICS = {fabric: resource.removeprefix("rdma/") for fabric, resource in RDMA_RESOURCES.items()}
"""The RDMA shared device plugin's resource name per fabric, as its config names it (pods request `rdma/<name>`:
`fabric.RDMA_RESOURCES`)."""
RDMA_LINK_TYPES = {Fabric.INFINIBAND: "infiniband", Fabric.RDMA: "ether"}
RDMA_HCA_MAX = 63
"""Pods that may share one HCA (the Network Operator's documented example value)."""
MELLANOX_VENDOR_ID = "15b3"
LOCAL_NVME_CLASS = "local-nvme"
PRIVILEGED_NAMESPACE_LABELS = {
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/audit": "privileged",
    "pod-security.kubernetes.io/warn": "privileged",
}


@dataclass(frozen=True, kw_only=True)
class OnPremAddonsArgs:
    provider: k8s.Provider
    """The cluster's Kubernetes provider (`Cluster.kubernetes_provider`)."""
    pools: tuple[NodePoolArgs, ...] = ()
    """The cluster's on-prem pools. Defaults to none: only local NVMe storage is installed."""
    system_namespace: pulumi.Input[str] = SYSTEM_NAMESPACE
    """Privileged namespace for the local NVMe provisioner. Defaults to `aiinfra-system` (made by `Cluster`)."""
    gpu_operator: bool = True
    """Install the NVIDIA GPU Operator when a pool has GPUs. Defaults to true; set false where the nodes'
    drivers, container toolkit and device plugin are managed outside aiinfra."""
    prometheus_operator: bool = False
    """Let the charts create ServiceMonitors. Defaults to false: the Prometheus Operator CRDs are not
    assumed to exist."""
    local_nvme_dir: str = "/mnt/local-nvme"
    """Host directory where each node's NVMe filesystems (or block-device symlinks) are mounted for the
    provisioner to discover. Defaults to /mnt/local-nvme."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels for every object (the stack's tags, made label-safe). Defaults to managed-by only."""


class OnPremAddons(pulumi.ComponentResource):
    """GPU Operator, Network Operator + NicClusterPolicy (RDMA pools) and the `local-nvme` StorageClass."""

    gpu_operator: k8s.helm.v3.Release | None
    network_operator: k8s.helm.v3.Release | None
    nic_cluster_policy: k8s.apiextensions.CustomResource | None
    storage_class: k8s.storage.v1.StorageClass

    def __init__(self, name: str, args: OnPremAddonsArgs, opts: pulumi.ResourceOptions | None = None):
        problems = ArgProblems(name)
        for pool in args.pools:
            pool_problems(problems, ("pools", pool.name), pool)
        problems.check(args.local_nvme_dir.startswith("/"), "local_nvme_dir", "must be an absolute host path")
        problems.raise_if_any()
        super().__init__("aiinfra:kubernetes:OnPremAddons", name, None, opts)
        self._labels = object_labels(args.labels)
        self._child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        gpu_pools = tuple(p for p in args.pools if p.shape.is_gpu)
        rdma_pools = tuple(p for p in args.pools if p.shape.fabric in RDMA_FABRICS)

        self.gpu_operator = None
        if args.gpu_operator and gpu_pools:
            self.gpu_operator = self._gpu_operator(name, args, rdma=bool(rdma_pools))
        self.network_operator = self.nic_cluster_policy = None
        if rdma_pools:
            self.network_operator, self.nic_cluster_policy = self._network_operator(name, rdma_pools)
        self.storage_class = self._local_nvme(name, args)
        self.register_outputs(
            {
                "gpuOperator": versions.GPU_OPERATOR.version if self.gpu_operator else None,
                "networkOperator": versions.NETWORK_OPERATOR.version if self.network_operator else None,
                "rdmaResources": sorted(f"rdma/{RDMA_FABRICS[p.shape.fabric]}" for p in rdma_pools),
                "storageClass": LOCAL_NVME_CLASS,
            }
        )

    def _namespace(self, name: str, namespace: str) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            name,
            metadata={"name": namespace, "labels": {**self._labels, **PRIVILEGED_NAMESPACE_LABELS}},
            opts=self._child,
        )

    def _gpu_operator(self, name: str, args: OnPremAddonsArgs, *, rdma: bool) -> k8s.helm.v3.Release:
        chart = versions.GPU_OPERATOR
        namespace = self._namespace(f"{name}-gpu-operator-ns", chart.namespace)
        small = container_resources("50m", "128Mi", cpu_limit="500m", memory_limit="256Mi")
        values = {
            "operator": {"resources": container_resources("200m", "256Mi", cpu_limit="500m", memory_limit="512Mi")},
            # The driver container builds or loads kernel modules: generous, but bounded.
            "driver": {
                "enabled": True,
                "resources": container_resources("500m", "1Gi", cpu_limit="4", memory_limit="4Gi"),
                # GPUDirect RDMA over the hosts' MLNX_OFED/DOCA drivers (the NicClusterPolicy does not
                # install an OFED driver container).
                "rdma": {"enabled": rdma, "useHostMofed": rdma},
            },
            "toolkit": {"resources": small},
            "devicePlugin": {"resources": small},
            "gfd": {"resources": small},
            # Node agents must reach every GPU node, whatever taints its pool declares.
            "daemonsets": {"tolerations": pool_tolerations(tuple(p for p in args.pools if p.shape.is_gpu))},
            "dcgmExporter": {
                "enabled": True,
                "resources": container_resources("100m", "512Mi", cpu_limit="500m", memory_limit="1Gi"),
                "serviceMonitor": {"enabled": args.prometheus_operator},
            },
            # One Node Feature Discovery per cluster: the GPU Operator's (the Network Operator's is off).
            "nfd": {"enabled": True},
            "node-feature-discovery": {
                "master": {"resources": small},
                "worker": {"resources": small},
                "gc": {"resources": small},
            },
        }
        return k8s.helm.v3.Release(
            f"{name}-gpu-operator",
            name="gpu-operator",
            chart=chart.chart,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
            namespace=namespace.metadata.name,
            values=values,
            opts=self._child,
        )

    def _network_operator(
        self, name: str, pools: tuple[NodePoolArgs, ...]
    ) -> tuple[k8s.helm.v3.Release, k8s.apiextensions.CustomResource]:
        chart = versions.NETWORK_OPERATOR
        namespace = self._namespace(f"{name}-network-operator-ns", chart.namespace)
        release = k8s.helm.v3.Release(
            f"{name}-network-operator",
            name="network-operator",
            chart=chart.chart,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
            namespace=namespace.metadata.name,
            values={
                "operator": {"resources": container_resources("100m", "128Mi", cpu_limit="500m", memory_limit="512Mi")},
                "nfd": {"enabled": False},
                "sriovNetworkOperator": {"enabled": False},
                # aiinfra writes the NicClusterPolicy itself (below), scoped to the RDMA pools.
                "deployCR": False,
            },
            opts=self._child,
        )
        fabrics = sorted({p.shape.fabric for p in pools}, key=lambda f: f.value)
        plugin_config = {
            "configList": [
                {
                    "resourceName": RDMA_FABRICS[fabric],
                    "rdmaHcaMax": RDMA_HCA_MAX,
                    "selectors": {"vendors": [MELLANOX_VENDOR_ID], "linkTypes": [RDMA_LINK_TYPES[fabric]]},
                }
                for fabric in fabrics
            ]
        }
        policy = k8s.apiextensions.CustomResource(
            f"{name}-nic-cluster-policy",
            api_version=versions.NIC_CLUSTER_POLICY_API_VERSION,
            kind="NicClusterPolicy",
            # The Network Operator reconciles only the policy of this name.
            metadata={"name": "nic-cluster-policy", "labels": self._labels},
            spec={
                **(selector_affinity(pools) or {}),
                "tolerations": pool_tolerations(pools),
                "rdmaSharedDevicePlugin": {
                    **versions.RDMA_SHARED_DEVICE_PLUGIN,
                    "imagePullSecrets": [],
                    "containerResources": [
                        {
                            "name": "rdma-shared-dp",
                            **container_resources("50m", "64Mi", cpu_limit="200m", memory_limit="128Mi"),
                        }
                    ],
                    "config": json.dumps(plugin_config, indent=2),
                },
            },
            opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(depends_on=[release])),
        )
        return release, policy

    def _local_nvme(self, name: str, args: OnPremAddonsArgs) -> k8s.storage.v1.StorageClass:
        """sig-storage-local-static-provisioner: one PersistentVolume per filesystem it discovers under
        `local_nvme_dir`, offered through StorageClass `local-nvme` (bound when the pod is scheduled)."""
        app = "local-nvme-provisioner"
        labels = {**self._labels, "app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "aiinfra"}
        namespace = args.system_namespace
        account = k8s.core.v1.ServiceAccount(
            f"{name}-local-nvme-sa", metadata={"name": app, "namespace": namespace, "labels": labels}, opts=self._child
        )
        # These dicts use the Kubernetes API's camelCase field names, which pulumi-kubernetes accepts.
        subject = cast("k8s.rbac.v1.SubjectArgsDict", {"kind": "ServiceAccount", "name": app, "namespace": namespace})
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-local-nvme-pv",
            metadata={"name": f"aiinfra-{app}-pv", "labels": labels},
            role_ref=cast(
                "k8s.rbac.v1.RoleRefArgsDict",
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "system:persistent-volume-provisioner",
                },
            ),
            subjects=[subject],
            opts=self._child,
        )
        node_reader = k8s.rbac.v1.ClusterRole(
            f"{name}-local-nvme-nodes",
            metadata={"name": f"aiinfra-{app}-nodes", "labels": labels},
            rules=cast(
                "list[k8s.rbac.v1.PolicyRuleArgsDict]", [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]
            ),
            opts=self._child,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-local-nvme-nodes",
            metadata={"name": f"aiinfra-{app}-nodes", "labels": labels},
            role_ref=cast(
                "k8s.rbac.v1.RoleRefArgsDict",
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": node_reader.metadata.name,
                },
            ),
            subjects=[subject],
            opts=self._child,
        )
        class_map = {
            LOCAL_NVME_CLASS: {
                "hostDir": args.local_nvme_dir,
                "mountDir": args.local_nvme_dir,
                "volumeMode": "Filesystem",
                "fsType": "ext4",
                "namePattern": "*",
                "blockCleanerCommand": ["/scripts/quick_reset.sh"],
            }
        }
        config = k8s.core.v1.ConfigMap(
            f"{name}-local-nvme-config",
            metadata={"name": f"{app}-config", "namespace": namespace, "labels": labels},
            data={"storageClassMap": yaml.safe_dump(class_map, sort_keys=True)},
            opts=self._child,
        )
        selector = {"app.kubernetes.io/name": app}
        pod_spec: dict = {
            "serviceAccountName": account.metadata.name,
            "tolerations": pool_tolerations(args.pools),
            "containers": [
                {
                    "name": "provisioner",
                    "image": versions.LOCAL_VOLUME_PROVISIONER_IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    # Mount propagation from the host and block-device cleaning need a privileged container.
                    "securityContext": {"privileged": True},
                    "env": [{"name": "MY_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                    "resources": container_resources("10m", "64Mi", cpu_limit="500m", memory_limit="256Mi"),
                    "volumeMounts": [
                        {"name": "provisioner-config", "mountPath": "/etc/provisioner/config", "readOnly": True},
                        {"name": "local-nvme", "mountPath": args.local_nvme_dir, "mountPropagation": "HostToContainer"},
                        {"name": "dev", "mountPath": "/dev"},
                    ],
                }
            ],
            "volumes": [
                {"name": "provisioner-config", "configMap": {"name": config.metadata.name}},
                {"name": "local-nvme", "hostPath": {"path": args.local_nvme_dir, "type": "DirectoryOrCreate"}},
                {"name": "dev", "hostPath": {"path": "/dev", "type": "Directory"}},
            ],
        }
        affinity = selector_affinity(args.pools)
        if affinity:
            pod_spec["affinity"] = affinity
        k8s.apps.v1.DaemonSet(
            f"{name}-local-nvme-provisioner",
            metadata={"name": app, "namespace": namespace, "labels": labels},
            spec=cast(
                "k8s.apps.v1.DaemonSetSpecArgsDict",
                {
                    "selector": {"matchLabels": selector},
                    "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                    "template": {"metadata": {"labels": {**labels, **selector}}, "spec": pod_spec},
                },
            ),
            opts=self._child,
        )
        return k8s.storage.v1.StorageClass(
            f"{name}-local-nvme",
            metadata={"name": LOCAL_NVME_CLASS, "labels": labels},
            provisioner="kubernetes.io/no-provisioner",
            volume_binding_mode="WaitForFirstConsumer",
            reclaim_policy="Delete",
            opts=self._child,
        )
