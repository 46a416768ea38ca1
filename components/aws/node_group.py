"""EKS managed node groups for aiinfra pools: launch template (IMDSv2, encrypted gp3 volumes, EFA
interfaces, NVMe RAID0 via nodeadm or Bottlerocket), AL2023 or Bottlerocket AMIs, placement, capacity
reservations, spot stand-in types and cluster-autoscaler tags."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import pulumi
import pulumi_aws as aws

from aiinfra.core.catalog import Fabric
from aiinfra.core.vocab import AmiFamily, CapacityType, TaintEffect
from components.aws.instance_types import spot_stand_ins
from components.common import ArgProblems, Taint, merge_tags
from components.contracts import NodePoolArgs

CAPACITY_TYPES: dict[CapacityType, str] = {
    "on-demand": "ON_DEMAND",
    "spot": "SPOT",
    # A targeted On-Demand Capacity Reservation is consumed by on-demand launches.
    "reservation": "ON_DEMAND",
    "capacity-block": "CAPACITY_BLOCK",
}
RESERVED = ("reservation", "capacity-block")
EKS_TAINT_EFFECTS: dict[TaintEffect, str] = {
    "NoSchedule": "NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
}
GPU_TAINT = Taint("nvidia.com/gpu", "present", "NoSchedule")
ROOT_DEVICE = "/dev/xvda"
"""Root device name of the EKS AL2023 AMIs; on Bottlerocket, the OS volume."""
BOTTLEROCKET_DATA_DEVICE = "/dev/xvdb"
"""Bottlerocket's data volume: container images, kubelet and pod ephemeral storage live here."""
MIME_BOUNDARY = "==AIINFRA=="
AMI_TYPES = {
    # ami_family → (GPU nodes, CPU nodes)
    "al2023": ("AL2023_x86_64_NVIDIA", "AL2023_x86_64_STANDARD"),
    "bottlerocket": ("BOTTLEROCKET_x86_64_NVIDIA", "BOTTLEROCKET_x86_64"),
}
BOTTLEROCKET_EPHEMERAL_DIRS = ("/var/lib/containerd", "/var/lib/kubelet", "/var/log/pods")
"""What Bottlerocket's `apiclient ephemeral-storage bind` moves onto the instance store (as Karpenter's
`instanceStorePolicy: RAID0` does): images, emptyDir volumes and pod logs."""
AUTOSCALER_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"


@dataclass(frozen=True, kw_only=True)
class ManagedNodeGroupArgs:
    pool: NodePoolArgs
    """The pool: shape, sizes, capacity type, zone, labels and taints (checked with `pool_problems`)."""
    cluster_name: pulumi.Input[str]
    """Name of the EKS cluster the nodes join."""
    node_role_arn: pulumi.Input[str]
    """IAM role of the nodes, shared by the cluster's pools."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets for the nodes; one subnet (one zone) for EFA and reserved pools."""
    vpc_id: pulumi.Input[str]
    """VPC of the cluster; holds the EFA security group."""
    cluster_security_group_id: pulumi.Input[str]
    """The security group EKS made for the cluster. EFA interfaces carry it next to the EFA group; other
    pools get it from EKS because their launch template names no security group."""
    root_volume_gib: int | None = None
    """Size of the volume holding images and ephemeral storage (the root volume on AL2023, the data volume on
    Bottlerocket). Defaults to 200 GiB for GPU nodes (CUDA images are large), 100 GiB otherwise."""
    ami_family: AmiFamily = "al2023"
    """"al2023" (EKS AL2023 AMIs; NVIDIA variant for GPU pools, which needs the NVIDIA device plugin Helm
    release) or "bottlerocket" (Bottlerocket AMIs; the NVIDIA variant runs its own device plugin). Local NVMe is
    striped RAID0 either way: by nodeadm on AL2023, by `apiclient ephemeral-storage` on Bottlerocket.
    Defaults to "al2023"."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags merged into every resource's tags, instances and volumes included."""


def pool_problems(problems: ArgProblems, path: tuple[str | int, ...], pool: NodePoolArgs) -> None:
    """Record the problems of one pool's plain values under `path` (zones are the cluster's business)."""
    efa = pool.shape.fabric == Fabric.EFA
    problems.check(
        pool.capacity_type in CAPACITY_TYPES,
        (*path, "capacity_type"),
        f"{pool.capacity_type!r} — choose one of {', '.join(CAPACITY_TYPES)}",
    )
    problems.check(pool.max_nodes >= 1, (*path, "max_nodes"), f"{pool.max_nodes} — EKS node groups need at least 1")
    problems.check(
        not (efa and pool.capacity_type == "spot"),
        (*path, "capacity_type"),
        (
            f"'spot' — {pool.shape.machine_type} uses EFA, whose nodes must share a cluster placement group; spot "
            "capacity cannot be held in one. Use on-demand, reservation or capacity-block"
        ),
    )
    if pool.capacity_type in RESERVED:
        problems.check(
            bool(pool.reservation_id),
            (*path, "reservation_id"),
            f"required with capacity_type {pool.capacity_type!r} (the cr-… id)",
        )
        problems.check(
            pool.zone is not None,
            (*path, "zone"),
            f"required with capacity_type {pool.capacity_type!r}: give the reservation's zone",
        )
    else:
        problems.check(
            pool.reservation_id is None,
            (*path, "reservation_id"),
            f"{pool.reservation_id!r} — only reservation and capacity-block pools use a reservation",
        )
    problems.check_taints(path, pool.taints)


def render_user_data(*, raid0_local_nvme: bool, ami_family: str = "al2023") -> str | None:
    """User data for the pool's AMI family, or None when nothing needs configuring: MIME multi-part user
    data holding a nodeadm NodeConfig on AL2023, TOML settings on Bottlerocket.

    EKS merges this into the user data it generates for managed node groups on EKS AMIs (which carries
    the cluster's endpoint and CA), so only the settings aiinfra adds appear here. RAID0 stripes the
    instance-store NVMe disks into one volume that backs containerd and kubelet (emptyDir, images).
    """
    if not raid0_local_nvme:
        return None
    if ami_family == "bottlerocket":
        return _bottlerocket_ephemeral_storage()
    node_config = "\n".join(
        [
            "---",
            "apiVersion: node.eks.aws/v1alpha1",
            "kind: NodeConfig",
            "spec:",
            "  instance:",
            "    localStorage:",
            "      strategy: RAID0",
        ]
    )
    return "\n".join(
        [
            "MIME-Version: 1.0",
            f'Content-Type: multipart/mixed; boundary="{MIME_BOUNDARY}"',
            "",
            f"--{MIME_BOUNDARY}",
            "Content-Type: application/node.eks.aws",
            "",
            node_config,
            "",
            f"--{MIME_BOUNDARY}--",
            "",
        ]
    )


def _toml_array(items: Sequence[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def _bottlerocket_ephemeral_storage() -> str:
    """Bottlerocket's own way to use the instance store (nodeadm is AL2023-only): a bootstrap command that,
    on every boot, stripes the NVMe disks (RAID0 when there are several) and binds the containerd, kubelet and
    pod-log directories onto them — what Karpenter renders for `instanceStorePolicy: RAID0`.

    Single-line values and no comments: EKS parses this TOML to merge its own settings in, and does not
    accept every valid TOML layout.
    """
    init = ["apiclient", "ephemeral-storage", "init"]
    bind = ["apiclient", "ephemeral-storage", "bind", "--dirs", *BOTTLEROCKET_EPHEMERAL_DIRS]
    return "\n".join(
        [
            "[settings.bootstrap-commands.aiinfra-ephemeral-storage]",
            f"commands = [{_toml_array(init)}, {_toml_array(bind)}]",
            "essential = true",
            'mode = "always"',
            "",
        ]
    )


def node_labels(pool: NodePoolArgs) -> dict[str, str]:
    labels = {
        "aiinfra.dev/pool": pool.name,
        "aiinfra.dev/accelerator": pool.shape.accelerator,
        "aiinfra.dev/fabric": pool.shape.fabric.value,
    }
    if pool.shape.is_gpu:
        labels["nvidia.com/gpu.present"] = "true"
    return {**labels, **pool.labels}


def node_taints(pool: NodePoolArgs) -> tuple[Taint, ...]:
    return ((GPU_TAINT,) if pool.shape.is_gpu else ()) + tuple(pool.taints)


def autoscaler_template_tags(pool: NodePoolArgs) -> dict[str, str]:
    """Auto Scaling group tags that tell cluster-autoscaler what a node of an empty pool would offer.

    EKS tags the group `k8s.io/cluster-autoscaler/enabled` and `.../<cluster>=owned` itself, but not
    with the node labels, taints and extended resources a scale-from-zero decision needs.
    """
    tags = {f"{AUTOSCALER_TEMPLATE}/label/{k}": v for k, v in node_labels(pool).items()}
    tags |= {f"{AUTOSCALER_TEMPLATE}/taint/{t.key}": f"{t.value}:{t.effect}" for t in node_taints(pool)}
    if pool.shape.is_gpu:
        tags[f"{AUTOSCALER_TEMPLATE}/resources/nvidia.com/gpu"] = str(pool.shape.accelerators_per_node)
    if pool.shape.fabric == Fabric.EFA:
        tags[f"{AUTOSCALER_TEMPLATE}/resources/vpc.amazonaws.com/efa"] = str(pool.shape.fabric_interfaces)
    return tags


def efa_interfaces(
    count: int, security_group_ids: Sequence[pulumi.Input[str]]
) -> list[aws.ec2.LaunchTemplateNetworkInterfaceArgsDict]:
    """One interface per network card: card 0 carries the primary `efa` interface (device 0, with IP
    traffic); every other card an `efa-only` interface at device index 1 (RDMA only, no IP address)."""
    return [
        {
            "network_card_index": card,
            "device_index": 0 if card == 0 else 1,
            "interface_type": "efa" if card == 0 else "efa-only",
            "security_groups": list(security_group_ids),
            "delete_on_termination": "true",
            "associate_public_ip_address": "false",
        }
        for card in range(count)
    ]


class ManagedNodeGroup(pulumi.ComponentResource):
    """One EKS managed node group with its own launch template (and, for EFA, security group and
    cluster placement group)."""

    node_group: aws.eks.NodeGroup
    launch_template: aws.ec2.LaunchTemplate

    def __init__(self, name: str, args: ManagedNodeGroupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:aws:ManagedNodeGroup", name, None, opts)
        pool, shape = args.pool, args.pool.shape
        problems = ArgProblems(name)
        pool_problems(problems, (), pool)
        problems.check(
            args.ami_family in AMI_TYPES, "ami_family", f"{args.ami_family!r} — choose one of {', '.join(AMI_TYPES)}"
        )
        problems.raise_if_any()

        efa = shape.fabric == Fabric.EFA
        child = pulumi.ResourceOptions(parent=self)
        tags = merge_tags(args.tags, {"Name": name, "aiinfra-pool": pool.name})

        network_interfaces: list[aws.ec2.LaunchTemplateNetworkInterfaceArgsDict] | None = None
        if efa:
            efa_sg = aws.ec2.SecurityGroup(
                f"{name}-efa",
                vpc_id=args.vpc_id,
                tags=tags,
                opts=child,
                description=f"EFA traffic between the nodes of pool {pool.name}",
            )
            # EFA's SRD traffic must be allowed both ways between every pair of nodes.
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-efa-in",
                security_group_id=efa_sg.id,
                ip_protocol="-1",
                referenced_security_group_id=efa_sg.id,
                tags=tags,
                opts=child,
            )
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-efa-out",
                security_group_id=efa_sg.id,
                ip_protocol="-1",
                referenced_security_group_id=efa_sg.id,
                tags=tags,
                opts=child,
            )
            network_interfaces = efa_interfaces(shape.fabric_interfaces, [args.cluster_security_group_id, efa_sg.id])

        placement: aws.ec2.LaunchTemplatePlacementArgsDict | None = None
        if efa and pool.capacity_type not in RESERVED:
            # Reserved capacity already sits where AWS placed it; a placement group would only fail launches.
            group = aws.ec2.PlacementGroup(f"{name}-pg", strategy="cluster", tags=tags, opts=child)
            placement = {"group_name": group.name}

        bottlerocket = args.ami_family == "bottlerocket"
        user_data = render_user_data(raid0_local_nvme=shape.local_nvme_disks > 0, ami_family=args.ami_family)
        data_volume_gib = args.root_volume_gib or (200 if shape.is_gpu else 100)
        encrypted_gp3: aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgsDict = {
            "volume_type": "gp3",
            "encrypted": "true",
            "delete_on_termination": "true",
        }
        capacity_block = pool.capacity_type == "capacity-block"
        self.launch_template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"aiinfra pool {pool.name}: {shape.machine_type}",
            update_default_version=True,
            # Capacity Blocks need the instance type in the launch template (AWS EKS user guide,
            # "Create a managed node group with Capacity Blocks for ML"); other pools name it on the node group.
            instance_type=shape.machine_type if capacity_block else None,
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                # Pods on the pod network are one hop beyond the node: with 1 they could not reach IMDS
                # at all (EKS guidance for AL2023). Pod credentials should still come from IRSA or Pod Identity.
                "http_put_response_hop_limit": 2,
            },
            block_device_mappings=(
                [
                    # The OS volume keeps the AMI's size; images and pods go to the data volume.
                    {"device_name": ROOT_DEVICE, "ebs": encrypted_gp3},
                    {"device_name": BOTTLEROCKET_DATA_DEVICE, "ebs": {"volume_size": data_volume_gib, **encrypted_gp3}},
                ]
                if bottlerocket
                else [{"device_name": ROOT_DEVICE, "ebs": {"volume_size": data_volume_gib, **encrypted_gp3}}]
            ),
            network_interfaces=network_interfaces,
            placement=placement,
            capacity_reservation_specification=(
                {"capacity_reservation_target": {"capacity_reservation_id": pool.reservation_id}}
                if pool.capacity_type in RESERVED
                else None
            ),
            instance_market_options={"market_type": "capacity-block"} if capacity_block else None,
            user_data=base64.b64encode(user_data.encode()).decode() if user_data else None,
            tag_specifications=[
                {"resource_type": kind, "tags": tags} for kind in ("instance", "volume", "network-interface")
            ],
            tags=tags,
            opts=child,
        )

        if capacity_block:
            instance_types = None
        elif pool.capacity_type == "spot":
            # More types, more spot pools to draw from: fewer interruptions and failed scale-ups.
            instance_types = [shape.machine_type, *spot_stand_ins(shape)]
        else:
            instance_types = [shape.machine_type]
        gpu_ami, cpu_ami = AMI_TYPES[args.ami_family]
        self.node_group = aws.eks.NodeGroup(
            f"{name}-ng",
            cluster_name=args.cluster_name,
            node_role_arn=args.node_role_arn,
            subnet_ids=args.subnet_ids,
            ami_type=gpu_ami if shape.is_gpu else cpu_ami,
            capacity_type=CAPACITY_TYPES[pool.capacity_type],
            # NodeShape.machine_type is optional in the catalog; every AWS shape names one.
            instance_types=cast("list[str] | None", instance_types),
            scaling_config={"min_size": pool.min_nodes, "max_size": pool.max_nodes, "desired_size": pool.min_nodes},
            update_config={"max_unavailable": 1},
            launch_template={"id": self.launch_template.id, "version": self.launch_template.latest_version.apply(str)},
            labels=node_labels(pool),
            taints=[{"key": t.key, "value": t.value, "effect": EKS_TAINT_EFFECTS[t.effect]} for t in node_taints(pool)],
            tags=tags,
            # cluster-autoscaler owns the desired size once the group exists.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["scalingConfig.desiredSize"]),
        )

        # An EKS managed node group always reports its Auto Scaling group.
        asg_name = self.node_group.resources.apply(
            lambda resources: (
                cast("Sequence[aws.eks.outputs.NodeGroupResourceAutoscalingGroup]", resources[0].autoscaling_groups)[
                    0
                ].name
            )
        )
        for key, value in autoscaler_template_tags(pool).items():
            aws.autoscaling.Tag(
                f"{name}-ca-{re.sub(r'[^A-Za-z0-9]+', '-', key.removeprefix(AUTOSCALER_TEMPLATE + '/'))}",
                autoscaling_group_name=asg_name,
                tag={"key": key, "value": value, "propagate_at_launch": False},
                opts=child,
            )

        self.register_outputs({"nodeGroupArn": self.node_group.arn, "launchTemplateId": self.launch_template.id})
