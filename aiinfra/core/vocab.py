"""The fixed value sets of stack files and component arguments, defined once as `Literal` types.

The spec's pydantic models and the components' Args use the same names, so a type checker holds both to the
same values; components still check them at run time (a program may pass anything), listing the choices with
`choices(...)`.
"""

from __future__ import annotations

from typing import Literal, get_args

Cloud = Literal["aws", "gcp", "azure", "onprem"]
CapacityType = Literal["on-demand", "spot", "reservation", "capacity-block"]
"""How a pool's nodes are bought: on demand, spot/preemptible, a reservation, or an EC2 Capacity Block."""
AmiFamily = Literal["al2023", "bottlerocket"]
"""AWS node operating systems (Amazon Linux 2023 or Bottlerocket, their NVIDIA variants on GPU pools)."""
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
Access = Literal["read", "write"]
"""What a lake grant allows: read and list, or also create, overwrite and delete."""
AwsIdentityMode = Literal["pod-identity", "irsa"]
"""How an EKS service account gets its IAM role: EKS Pod Identity or IAM roles for service accounts."""
PodSecurityLevel = Literal["restricted", "baseline", "privileged"]
"""Pod Security Admission levels, strictest first."""
LocalNvme = Literal["auto", "raid0", "none"]
"""What a pool does with its machine's local NVMe disks: the default for its machine, striped, or unused."""
LakeZone = Literal["raw", "curated", "checkpoints", "models"]
"""The zones of a lake, in the order data flows through them."""

CLOUDS: tuple[Cloud, ...] = get_args(Cloud)
CAPACITY_TYPES: tuple[CapacityType, ...] = get_args(CapacityType)
AMI_FAMILIES: tuple[AmiFamily, ...] = get_args(AmiFamily)
TAINT_EFFECTS: tuple[TaintEffect, ...] = get_args(TaintEffect)
ACCESS: tuple[Access, ...] = get_args(Access)
AWS_IDENTITY_MODES: tuple[AwsIdentityMode, ...] = get_args(AwsIdentityMode)
POD_SECURITY_LEVELS: tuple[PodSecurityLevel, ...] = get_args(PodSecurityLevel)
