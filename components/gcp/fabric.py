"""In-cluster objects GKE GPU fabrics need: one `Network` + `GKENetworkParamSet` pair per extra NIC
(multi-networking), and the NCCL plugin DaemonSets of Google's published manifests, shipped pinned in
`manifests/` (never fetched at run time).

Pods reach the NICs through the `networking.gke.io/interfaces` annotation
(`components.kubernetes.fabric.interfaces_annotation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.gcp.network import GkeNic

MANIFESTS = Path(__file__).parent / "manifests"
TCPXO_MANIFESTS = ("nccl-tcpxo-installer.yaml", "nri-device-injector.yaml")
"""GKE "GPUDirect-TCPXO": the NCCL FasTrak plugin installer and the NRI device injector."""
RDMA_MANIFESTS = ("nccl-rdma-installer.yaml",)
"""GKE "GPUDirect RDMA": the gIB NCCL plugin installer."""
NETWORKING_API = "networking.gke.io/v1"


def load_manifest(file: str) -> dict[str, Any]:
    """One Kubernetes object from a shipped manifest."""
    return yaml.safe_load((MANIFESTS / file).read_text())


def network_objects(
    prefix: str, nics: Sequence[GkeNic], opts: pulumi.ResourceOptions
) -> list[k8s.apiextensions.CustomResource]:
    """A `GKENetworkParamSet` (VPC, subnet, device mode) and a `Network` of type Device per NIC.
    `opts` carries the cluster's Kubernetes provider."""
    created = []
    for nic in nics:
        params = k8s.apiextensions.CustomResource(
            f"{prefix}-nic-params-{nic.name}",
            api_version=NETWORKING_API,
            kind="GKENetworkParamSet",
            metadata={"name": nic.name},
            spec={"vpc": nic.network, "vpcSubnet": nic.subnetwork, "deviceMode": nic.device_mode},
            opts=opts,
        )
        network = k8s.apiextensions.CustomResource(
            f"{prefix}-nic-{nic.name}",
            api_version=NETWORKING_API,
            kind="Network",
            metadata={"name": nic.name},
            spec={
                "type": "Device",
                "parametersRef": {"group": "networking.gke.io", "kind": "GKENetworkParamSet", "name": nic.name},
            },
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[params])),
        )
        created += [params, network]
    return created


def daemonsets(prefix: str, files: Sequence[str], opts: pulumi.ResourceOptions) -> list[k8s.apps.v1.DaemonSet]:
    """The DaemonSets of shipped manifests, as typed objects named `<prefix>-<metadata.name>`."""
    created = []
    for file in files:
        doc = load_manifest(file)
        created.append(
            k8s.apps.v1.DaemonSet(
                f"{prefix}-{doc['metadata']['name']}", metadata=doc["metadata"], spec=doc["spec"], opts=opts
            )
        )
    return created
