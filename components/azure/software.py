"""Cluster software for AKS GPU pools, pinned: NVIDIA GPU Operator, NVIDIA Network Operator with a
`NicClusterPolicy` (DOCA-OFED driver + RDMA shared device plugin exposing `rdma/shared_ib`), and a DaemonSet
that stripes local NVMe disks RAID0 for scratch.

Versions are a set NVIDIA and Azure validated together (Azure/aks-rdma-infiniband, configs/ and docs for
Network Operator v25.10; GPU Operator v25.10 docs). Change them together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pulumi
import pulumi_kubernetes as k8s

from aiinfra.core.exceptions import workload_named
from components.azure.agent_pool import LOCAL_NVME_LABEL, uses_infiniband
from components.contracts import SYSTEM_NAMESPACE, NodePoolArgs
from components.kubernetes.meta import CRITICAL_ADDONS_TOLERATION

NVIDIA_HELM_REPO = "https://helm.ngc.nvidia.com/nvidia"
GPU_OPERATOR_CHART = "gpu-operator"
GPU_OPERATOR_VERSION = "v25.10.1"
GPU_OPERATOR_NAMESPACE = "gpu-operator"
NETWORK_OPERATOR_CHART = "network-operator"
NETWORK_OPERATOR_VERSION = "v25.10.0"
NETWORK_OPERATOR_NAMESPACE = "nvidia-network-operator"
MELLANOX_REPOSITORY = "nvcr.io/nvidia/mellanox"
DOCA_DRIVER_VERSION = "doca3.2.0-25.10-1.2.8.0-2"
"""The DOCA-OFED driver container of Network Operator v25.10 (the operator appends -<os><version>-<arch>)."""
RDMA_SHARED_DEVICE_PLUGIN_VERSION = "network-operator-v25.10.0"
RDMA_RESOURCE = "shared_ib"
"""Pods request `rdma/shared_ib: 1` (plus IPC_LOCK) to use every InfiniBand port of their node."""
RDMA_HCA_MAX = 63
"""Pods that may share a node's InfiniBand ports at once."""
RAID0_NAME = "aiinfra-nvme-raid0"
NVME_IMAGE = workload_named(f"{SYSTEM_NAMESPACE}/{RAID0_NAME}").images[0]
"""Only its nsenter is used: the script runs in the host's namespaces with the host's mdadm. Pinned with its
reviewed exception (aiinfra.core.exceptions): it runs privileged."""
SCRATCH_PATH = "/mnt/nvme"
"""Where the RAID0 array is mounted on every node labelled `aiinfra.dev/local-nvme=raid0`; workloads mount
it as a hostPath volume."""
MANIFESTS = Path(__file__).parent / "manifests"
HELM_TIMEOUT_S = 900
"""The GPU Operator waits for its validator; driver builds take minutes."""

TOLERATE_EVERYTHING = {"operator": "Exists"}
"""Node agents (drivers, device plugins, feature discovery) must reach every node they select, whatever
taints the pool has; their node selection, not tolerations, keeps them in place."""
PRIVILEGED_NAMESPACE_LABELS = {
    "app.kubernetes.io/managed-by": "aiinfra",
    "pod-security.kubernetes.io/enforce": "privileged",
}


def nfd_values() -> dict:
    """Node Feature Discovery (a subchart of both operators): controllers may use the system pool, workers run
    on every other node, whatever its taints."""
    return {
        "master": {"tolerations": [CRITICAL_ADDONS_TOLERATION]},
        "gc": {"tolerations": [CRITICAL_ADDONS_TOLERATION]},
        "worker": {
            "tolerations": [TOLERATE_EVERYTHING],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "kubernetes.azure.com/mode",
                                        "operator": "NotIn",
                                        "values": ["system"],  # the mode (system or user), not a pool name
                                    }
                                ]
                            }
                        ]
                    }
                }
            },
        },
    }


def gpu_operator_values(*, infiniband: bool) -> dict:
    """GPU Operator values. With InfiniBand the Network Operator brings Node Feature Discovery (so the GPU
    Operator must not: NFD runs once) and GPUDirect RDMA is built against its DOCA-OFED driver."""
    values: dict = {
        "nfd": {"enabled": not infiniband},
        "driver": {"enabled": True, "rdma": {"enabled": infiniband}},
        "operator": {"tolerations": [CRITICAL_ADDONS_TOLERATION]},
        "daemonsets": {"tolerations": [TOLERATE_EVERYTHING]},
    }
    if not infiniband:
        values["node-feature-discovery"] = nfd_values()
    return values


def network_operator_values() -> dict:
    return {
        "nfd": {"enabled": True, "deployNodeFeatureRules": True},
        "operator": {"tolerations": [CRITICAL_ADDONS_TOLERATION]},
        "node-feature-discovery": nfd_values(),
    }


def nic_cluster_policy_spec() -> dict:
    """DOCA-OFED driver and the RDMA shared device plugin on InfiniBand nodes, chosen by the fabric label
    aiinfra sets (every AKS node has Mellanox Ethernet VFs, so NFD's pci-15b3 label would select them all)."""
    device_plugin_config = {
        "configList": [
            {
                "resourceName": RDMA_RESOURCE,
                "rdmaHcaMax": RDMA_HCA_MAX,
                "selectors": {"vendors": ["15b3"], "linkTypes": ["infiniband"]},
            }
        ]
    }
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "aiinfra.dev/fabric", "operator": "In", "values": ["infiniband"]}]}
                ]
            }
        },
        "tolerations": [TOLERATE_EVERYTHING],
        "ofedDriver": {
            "repository": MELLANOX_REPOSITORY,
            "image": "doca-driver",
            "version": DOCA_DRIVER_VERSION,
            # Loading the OFED modules races with the inbox ones without this (Mellanox/doca-driver-build#52).
            "env": [
                {"name": "OFED_BLACKLIST_MODULES_FILE", "value": "/host/etc/modprobe.d/blacklist-ofed-modules.conf"}
            ],
            "forcePrecompiled": False,
            "upgradePolicy": {
                "autoUpgrade": True,
                "maxParallelUpgrades": 1,
                "drain": {"enable": True, "force": True, "deleteEmptyDir": True, "timeoutSeconds": 300},
            },
            "startupProbe": {"initialDelaySeconds": 10, "periodSeconds": 20},
            "livenessProbe": {"initialDelaySeconds": 30, "periodSeconds": 30},
            "readinessProbe": {"initialDelaySeconds": 10, "periodSeconds": 30},
        },
        "rdmaSharedDevicePlugin": {
            "repository": MELLANOX_REPOSITORY,
            "image": "k8s-rdma-shared-dev-plugin",
            "version": RDMA_SHARED_DEVICE_PLUGIN_VERSION,
            "config": json.dumps(device_plugin_config, indent=2),
        },
    }


def raid0_script() -> str:
    return (MANIFESTS / "nvme-raid0.sh").read_text()


def raid0_daemonset(script_checksum: str) -> dict:
    """The RAID0 DaemonSet's spec: an init container builds and mounts the array in the host's namespaces,
    then a sleeping container keeps the pod (and its Ready state, the signal that scratch exists) alive."""
    labels = {"app.kubernetes.io/name": RAID0_NAME, "app.kubernetes.io/managed-by": "aiinfra"}
    return {
        "selector": {"matchLabels": labels},
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
        "template": {
            "metadata": {"labels": labels, "annotations": {"aiinfra.dev/script-sha256": script_checksum}},
            "spec": {
                "nodeSelector": {LOCAL_NVME_LABEL: "raid0"},
                "tolerations": [TOLERATE_EVERYTHING],
                "priorityClassName": "system-node-critical",
                "hostPID": True,
                "automountServiceAccountToken": False,
                "initContainers": [
                    {
                        "name": "raid0",
                        "image": NVME_IMAGE,
                        # The redirection happens in the container, where the script is mounted; nsenter then
                        # runs bash in the host's namespaces, reading the script from that stdin.
                        "command": [
                            "/bin/sh",
                            "-c",
                            "exec nsenter --target=1 --mount --uts --ipc --net --pid -- "
                            f"/usr/bin/env MOUNT_POINT={SCRATCH_PATH} /bin/bash -s < /opt/aiinfra/nvme-raid0.sh",
                        ],
                        "securityContext": {"privileged": True},
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "64Mi"},
                            "limits": {"cpu": "1", "memory": "256Mi"},
                        },
                        "volumeMounts": [{"name": "script", "mountPath": "/opt/aiinfra", "readOnly": True}],
                    }
                ],
                "containers": [
                    {
                        "name": "sleep",
                        "image": NVME_IMAGE,
                        "command": ["sleep", "infinity"],
                        "resources": {
                            "requests": {"cpu": "1m", "memory": "8Mi"},
                            "limits": {"cpu": "10m", "memory": "16Mi"},
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "runAsNonRoot": True,
                            "runAsUser": 65534,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
                "volumes": [{"name": "script", "configMap": {"name": RAID0_NAME, "defaultMode": 0o555}}],
            },
        },
    }


@dataclass(frozen=True, kw_only=True)
class ClusterSoftwareArgs:
    node_pools: Sequence[NodePoolArgs]
    """The cluster's pools: GPU pools bring the GPU Operator, InfiniBand pools the Network Operator and its
    NicClusterPolicy, pools with local NVMe the RAID0 DaemonSet."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster, with rights to install cluster-wide software."""
    system_namespace: k8s.core.v1.Namespace
    """aiinfra's own namespace of the cluster, where the RAID0 DaemonSet runs (it waits for the namespace)."""


class ClusterSoftware(pulumi.ComponentResource):
    """What the pools of a cluster need in Kubernetes; nothing for a cluster of plain CPU pools."""

    gpu_operator: k8s.helm.v3.Release | None = None
    network_operator: k8s.helm.v3.Release | None = None
    nic_cluster_policy: k8s.apiextensions.CustomResource | None = None
    nvme_raid0: k8s.apps.v1.DaemonSet | None = None

    def __init__(self, name: str, args: ClusterSoftwareArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:azure:ClusterSoftware", name, None, opts)
        gpu = any(p.shape.is_gpu for p in args.node_pools)
        infiniband = any(uses_infiniband(p) for p in args.node_pools)
        nvme = any(p.shape.local_nvme_disks > 0 for p in args.node_pools)

        def opts_(*depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=list(depends_on))

        if infiniband:
            namespace = self._namespace(f"{name}-network-operator-ns", NETWORK_OPERATOR_NAMESPACE, opts_())
            self.network_operator = self._release(
                f"{name}-network-operator",
                NETWORK_OPERATOR_CHART,
                NETWORK_OPERATOR_VERSION,
                namespace,
                network_operator_values(),
                opts_(),
            )
            # The CRD comes with the chart; the operator only reconciles the policy named nic-cluster-policy.
            self.nic_cluster_policy = k8s.apiextensions.CustomResource(
                f"{name}-nic-cluster-policy",
                api_version="mellanox.com/v1alpha1",
                kind="NicClusterPolicy",
                metadata={"name": "nic-cluster-policy", "labels": {"app.kubernetes.io/managed-by": "aiinfra"}},
                spec=nic_cluster_policy_spec(),
                opts=opts_(self.network_operator),
            )
        if gpu:
            namespace = self._namespace(f"{name}-gpu-operator-ns", GPU_OPERATOR_NAMESPACE, opts_())
            # With InfiniBand, the GPU Operator relies on the Network Operator's feature discovery and driver.
            self.gpu_operator = self._release(
                f"{name}-gpu-operator",
                GPU_OPERATOR_CHART,
                GPU_OPERATOR_VERSION,
                namespace,
                gpu_operator_values(infiniband=infiniband),
                opts_(*([self.network_operator] if self.network_operator else [])),
            )
        if nvme:
            self.nvme_raid0 = self._raid0(name, args.system_namespace.metadata.name, opts_())
        self.register_outputs(
            {
                "gpuOperatorVersion": GPU_OPERATOR_VERSION if gpu else None,
                "networkOperatorVersion": NETWORK_OPERATOR_VERSION if infiniband else None,
                "rdmaResource": f"rdma/{RDMA_RESOURCE}" if infiniband else None,
                "scratchPath": SCRATCH_PATH if nvme else None,
            }
        )

    @staticmethod
    def _namespace(name: str, namespace: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.Namespace:
        # Drivers and device plugins need host access.
        return k8s.core.v1.Namespace(
            name, metadata={"name": namespace, "labels": PRIVILEGED_NAMESPACE_LABELS}, opts=opts
        )

    @staticmethod
    def _release(
        name: str,
        chart: str,
        version: str,
        namespace: k8s.core.v1.Namespace,
        values: dict,
        opts: pulumi.ResourceOptions,
    ) -> k8s.helm.v3.Release:
        return k8s.helm.v3.Release(
            name,
            name=chart,
            chart=chart,
            version=version,
            repository_opts={"repo": NVIDIA_HELM_REPO},
            namespace=namespace.metadata.name,
            values=values,
            cleanup_on_fail=True,
            max_history=10,
            timeout=HELM_TIMEOUT_S,
            opts=opts,
        )

    def _raid0(self, name: str, namespace: pulumi.Output[str], opts: pulumi.ResourceOptions) -> k8s.apps.v1.DaemonSet:
        script = raid0_script()
        labels = {"app.kubernetes.io/managed-by": "aiinfra"}
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-nvme-raid0-script",
            metadata={"name": RAID0_NAME, "namespace": namespace, "labels": labels},
            data={"nvme-raid0.sh": script},
            opts=opts,
        )
        return k8s.apps.v1.DaemonSet(
            f"{name}-nvme-raid0",
            metadata={"name": RAID0_NAME, "namespace": namespace, "labels": labels},
            # The checksum rolls the pods when the script changes (a ConfigMap edit alone would not).
            spec=cast(
                "k8s.apps.v1.DaemonSetSpecArgsDict", raid0_daemonset(hashlib.sha256(script.encode()).hexdigest())
            ),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[config_map])),
        )
