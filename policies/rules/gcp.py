"""GCP rules: GKE clusters and node pools, Cloud Storage lakes, Cloud KMS keys."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import PolicyConfigSchema, ResourceValidationArgs, Severity

from .common import (
    AIINFRA,
    CIS_GCP,
    CIS_GKE,
    UNKNOWN,
    WORLD,
    Control,
    checkov_control,
    get,
    is_false,
    is_true,
    items,
    not_true,
    resource_rule,
    strings,
)
from .standards import gke

DOMAIN = "gcp"
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
BUCKET = "gcp:storage/bucket:Bucket"
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


def _gke(reference: str, title: str, *checkov: str) -> Control:
    return Control(*CIS_GKE, reference, title, checkov)


def _node_configs(resource_type: str, props: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(pool description, nodeConfig) of a node pool, or of a cluster's default and inline pools."""
    if resource_type == NODE_POOL:
        yield "node pool", get(props, "nodeConfig")
        return
    removes_default = is_true(get(props, "removeDefaultNodePool")) or is_true(get(props, "enableAutopilot"))
    if not removes_default:
        yield "default node pool", get(props, "nodeConfig")
    for pool in items(get(props, "nodePools")):
        yield f"node pool {get(pool, 'name') or '(unnamed)'}", get(pool, "nodeConfig")


@resource_rule(
    name="gcp-gke-private-nodes",
    description="GKE nodes have internal IP addresses only (private nodes).",
    types=[CLUSTER, NODE_POOL],
    severity=Severity.HIGH,
    remediation="Set private_cluster_config enable_private_nodes=True (with Cloud NAT for egress) and do not "
    "override it with network_config enable_private_nodes=False on node pools.",
    control=_gke("5.6.5", "Ensure clusters are created with Private Nodes", "CKV_GCP_25"),
    domain=DOMAIN,
)
def gke_private_nodes(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == CLUSTER and not_true(get(props, "privateClusterConfig", "enablePrivateNodes")):
        yield "the cluster's nodes get public IP addresses"
    pools = [props] if args.resource_type == NODE_POOL else items(get(props, "nodePools"))
    for pool in pools:
        if is_false(get(pool, "networkConfig", "enablePrivateNodes")):
            yield f"node pool {get(pool, 'name') or args.name} turns private nodes off"


@resource_rule(
    name="gcp-gke-secrets-encryption",
    description="GKE clusters encrypt Kubernetes secrets with a Cloud KMS key (application-layer encryption).",
    types=[CLUSTER],
    severity=Severity.HIGH,
    remediation="Set database_encryption state='ENCRYPTED' and key_name to a Cloud KMS key with rotation.",
    control=_gke("5.3.1", "Ensure Kubernetes Secrets are encrypted using keys managed in Cloud KMS"),
    domain=DOMAIN,
)
def gke_secrets_encryption(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    state = get(props, "databaseEncryption", "state")
    if state is not UNKNOWN and (state != "ENCRYPTED" or get(props, "databaseEncryption", "keyName") in (None, "")):
        yield "Kubernetes secrets are not encrypted with a Cloud KMS key"


@resource_rule(
    name="gcp-gke-no-legacy-abac",
    description="GKE clusters authorize with RBAC only; legacy ABAC is off.",
    types=[CLUSTER],
    severity=Severity.HIGH,
    remediation="Remove enable_legacy_abac (or set it to False).",
    control=_gke("5.8.4", "Ensure Legacy Authorization (ABAC) is Disabled", "CKV_GCP_7"),
    domain=DOMAIN,
)
def gke_no_legacy_abac(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    if is_true(get(props, "enableLegacyAbac")):
        yield "legacy ABAC authorization is enabled"


@resource_rule(
    name="gcp-gke-no-client-certificate",
    description="GKE clusters issue no client certificates (a long-lived credential that cannot be revoked).",
    types=[CLUSTER],
    severity=Severity.HIGH,
    remediation="Set master_auth client_certificate_config issue_client_certificate=False.",
    control=_gke("5.8.2", "Ensure authentication using Client Certificates is Disabled", "CKV_GCP_13"),
    domain=DOMAIN,
    standards=(gke("2.1.1"),),
)
def gke_no_client_certificate(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    if is_true(get(props, "masterAuth", "clientCertificateConfig", "issueClientCertificate")):
        yield "the cluster issues a client certificate"


@resource_rule(
    name="gcp-gke-workload-identity",
    description="GKE clusters use Workload Identity, and node pools serve the GKE metadata server to pods.",
    types=[CLUSTER, NODE_POOL],
    severity=Severity.HIGH,
    remediation="Set workload_identity_config workload_pool='<project>.svc.id.goog' on the cluster and "
    "workload_metadata_config mode='GKE_METADATA' on every node pool.",
    control=_gke("5.2.2", "Prefer using dedicated GCP Service Accounts and Workload Identity", "CKV_GCP_69"),
    domain=DOMAIN,
    standards=(gke("5.4.2"),),
)
def gke_workload_identity(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == CLUSTER and get(props, "workloadIdentityConfig", "workloadPool") in (None, ""):
        yield "Workload Identity is not enabled on the cluster"
    for pool, config in _node_configs(args.resource_type, props):
        mode = get(config, "workloadMetadataConfig", "mode")
        if mode not in (None, UNKNOWN, "GKE_METADATA"):
            yield f"{pool} exposes the node's metadata to pods (mode {mode})"


@resource_rule(
    name="gcp-gke-network-policy",
    description="GKE clusters enforce Kubernetes NetworkPolicy (Calico network policy or Dataplane V2).",
    types=[CLUSTER],
    severity=Severity.MEDIUM,
    remediation="Set datapath_provider='ADVANCED_DATAPATH' (Dataplane V2) or network_policy enabled=True.",
    control=_gke("5.6.7", "Ensure Network Policy is Enabled and set as appropriate", "CKV_GCP_12"),
    domain=DOMAIN,
    standards=(gke("4.3.1"),),
)
def gke_network_policy(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    datapath = get(props, "datapathProvider")
    enabled = get(props, "networkPolicy", "enabled")
    if UNKNOWN in (datapath, enabled):
        return
    if datapath != "ADVANCED_DATAPATH" and not is_true(enabled):
        yield "NetworkPolicy is not enforced (neither Dataplane V2 nor network policy is enabled)"


@resource_rule(
    name="gcp-gke-shielded-nodes",
    description="GKE nodes are Shielded VMs with integrity monitoring.",
    types=[CLUSTER, NODE_POOL],
    severity=Severity.MEDIUM,
    remediation="Leave enable_shielded_nodes at its default (True) and do not turn off "
    "shielded_instance_config enable_integrity_monitoring.",
    control=_gke("5.5.5", "Ensure Shielded GKE Nodes are Enabled", "CKV_GCP_71"),
    domain=DOMAIN,
    standards=(gke("5.5.6"),),
)
def gke_shielded_nodes(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == CLUSTER and is_false(get(props, "enableShieldedNodes")):
        yield "Shielded GKE Nodes are disabled"
    for pool, config in _node_configs(args.resource_type, props):
        if is_false(get(config, "shieldedInstanceConfig", "enableIntegrityMonitoring")):
            yield f"{pool} turns integrity monitoring off"


DEFAULT_COMPUTE_SA = re.compile(r"^(default|\d+-compute@developer\.gserviceaccount\.com)$")


@resource_rule(
    name="gcp-gke-node-service-account",
    description="GKE nodes run as a dedicated least-privilege service account, not the Compute Engine default.",
    types=[CLUSTER, NODE_POOL],
    severity=Severity.HIGH,
    remediation="Create a service account with roles/container.defaultNodeServiceAccount and set "
    "node_config service_account to it.",
    control=_gke("5.2.1", "Ensure GKE clusters are not running using the Compute Engine default service account"),
    domain=DOMAIN,
)
def gke_node_service_account(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    for pool, config in _node_configs(args.resource_type, props):
        account = get(config, "serviceAccount")
        if account is UNKNOWN or config is UNKNOWN:
            continue
        if account is None or DEFAULT_COMPUTE_SA.match(str(account)):
            yield f"{pool} runs as the Compute Engine default service account"


@resource_rule(
    name="gcp-gke-private-endpoint",
    description="The GKE control plane endpoint is private, or public only to master authorized networks "
    "(never 0.0.0.0/0).",
    types=[CLUSTER],
    severity=Severity.HIGH,
    remediation="Set private_cluster_config enable_private_endpoint=True, or master_authorized_networks_config "
    "cidr_blocks to the operator CIDRs.",
    control=gke("5.6.4"),
    domain=DOMAIN,
    standards=(gke("5.6.3"),),
)
def gke_private_endpoint(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    private = get(props, "privateClusterConfig", "enablePrivateEndpoint")
    networks = get(props, "masterAuthorizedNetworksConfig")
    blocks = get(networks, "cidrBlocks")
    if UNKNOWN in (private, networks, blocks) or is_true(private):
        return
    cidrs = [get(block, "cidrBlock") for block in items(blocks)]
    if UNKNOWN in cidrs:
        return
    if networks is None:
        yield "the control plane endpoint is public to every address (no master authorized networks)"
    elif any(c in WORLD for c in cidrs):
        yield "a master authorized network is 0.0.0.0/0"
    elif is_true(get(networks, "gcpPublicCidrsAccessEnabled")):
        yield "the public endpoint accepts every Google Cloud public IP (gcp_public_cidrs_access_enabled)"


def _pools_and_management(resource_type: str, props: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(pool description, management) of a node pool or of each of a cluster's inline pools."""
    if resource_type == NODE_POOL:
        yield "node pool", get(props, "management")
    for pool in items(get(props, "nodePools")) if resource_type == CLUSTER else ():
        yield f"node pool {get(pool, 'name') or '(unnamed)'}", get(pool, "management")


@resource_rule(
    name="gcp-gke-node-auto-repair-upgrade",
    description="GKE node pools keep auto-repair and auto-upgrade on, so failed nodes are replaced and nodes get "
    "security patches.",
    types=[CLUSTER, NODE_POOL],
    severity=Severity.MEDIUM,
    remediation="Remove management auto_repair=False / auto_upgrade=False (both default to True); pin versions "
    "with a release channel and maintenance windows instead.",
    control=gke("5.5.2"),
    domain=DOMAIN,
    standards=(gke("5.5.3"),),
)
def gke_node_auto_repair_upgrade(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    for pool, management in _pools_and_management(args.resource_type, props):
        off = [f for f in ("autoRepair", "autoUpgrade") if is_false(get(management, f))]
        if off:
            yield f"{pool} turns {' and '.join(off)} off"


@resource_rule(
    name="gcp-gke-secure-boot",
    description="GKE nodes boot with Secure Boot (Shielded VM), so only signed kernels and drivers load.",
    types=[CLUSTER, NODE_POOL],
    severity=Severity.MEDIUM,
    remediation="Set node_config shielded_instance_config enable_secure_boot=True on every node pool.",
    control=gke("5.5.7"),
    domain=DOMAIN,
)
def gke_secure_boot(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    for pool, config in _node_configs(args.resource_type, props):
        secure_boot = get(config, "shieldedInstanceConfig", "enableSecureBoot")
        if config is not UNKNOWN and secure_boot is not UNKNOWN and not_true(secure_boot):
            yield f"{pool} does not enable Secure Boot"


COS_IMAGES = ("COS_CONTAINERD", "COS")


@resource_rule(
    name="gcp-gke-cos-nodes",
    description="GKE nodes run Container-Optimized OS (the default image), not Ubuntu or Windows.",
    types=[CLUSTER, NODE_POOL],
    severity=Severity.LOW,
    remediation="Remove node_config image_type or set it to 'COS_CONTAINERD'.",
    control=gke("5.5.1"),
    domain=DOMAIN,
)
def gke_cos_nodes(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    for pool, config in _node_configs(args.resource_type, props):
        image = get(config, "imageType")
        if image not in (None, UNKNOWN) and str(image).upper() not in COS_IMAGES:
            yield f"{pool} runs image type {image}"


@resource_rule(
    name="gcp-gke-release-channel",
    description="GKE clusters are enrolled in a release channel, so control plane and nodes get patch versions.",
    types=[CLUSTER],
    severity=Severity.LOW,
    remediation="Set release_channel channel='REGULAR' (or 'STABLE').",
    control=gke("5.5.4"),
    domain=DOMAIN,
)
def gke_release_channel(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    channel = get(props, "releaseChannel", "channel")
    if channel in (None, "UNSPECIFIED"):
        yield "the cluster is in no release channel"


@resource_rule(
    name="gcp-gke-vpc-native",
    description="GKE clusters are VPC-native (alias IPs), so pod addresses are routable and firewall rules and "
    "network policy apply to them.",
    types=[CLUSTER],
    severity=Severity.MEDIUM,
    remediation="Set networking_mode='VPC_NATIVE' with an ip_allocation_policy naming the pod and service ranges.",
    control=gke("5.6.2"),
    domain=DOMAIN,
)
def gke_vpc_native(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    mode = get(props, "networkingMode")
    if mode == "ROUTES" or (mode is None and get(props, "ipAllocationPolicy") is None):
        yield "the cluster is routes-based, not VPC-native"


@resource_rule(
    name="gcp-gke-no-alpha",
    description="GKE clusters do not enable Kubernetes alpha features (unsupported, not upgradable, deleted after "
    "30 days).",
    types=[CLUSTER],
    severity=Severity.MEDIUM,
    remediation="Remove enable_kubernetes_alpha.",
    control=gke("5.10.2"),
    domain=DOMAIN,
)
def gke_no_alpha(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    if is_true(get(props, "enableKubernetesAlpha")):
        yield "Kubernetes alpha features are enabled"


@resource_rule(
    name="gcp-gke-legacy-metadata-disabled",
    description="GKE nodes keep the legacy Compute Engine metadata endpoints (v0.1, v1beta1) disabled.",
    types=[CLUSTER, NODE_POOL],
    severity=Severity.MEDIUM,
    remediation="Remove node_config metadata disable-legacy-endpoints='false' (GKE disables them by default).",
    control=gke("5.4.1"),
    domain=DOMAIN,
)
def gke_legacy_metadata_disabled(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    for pool, config in _node_configs(args.resource_type, props):
        if is_false(get(config, "metadata", "disable-legacy-endpoints")):
            yield f"{pool} serves the legacy metadata endpoints (disable-legacy-endpoints is false)"


@resource_rule(
    name="gcp-gke-logging-monitoring",
    description="GKE clusters send system logs and metrics to Cloud Logging and Cloud Monitoring.",
    types=[CLUSTER],
    severity=Severity.MEDIUM,
    remediation="Remove logging_service/monitoring_service 'none' and keep SYSTEM_COMPONENTS in logging_config and "
    "monitoring_config enable_components.",
    control=gke("5.7.1"),
    domain=DOMAIN,
)
def gke_logging_monitoring(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    for kind in ("logging", "monitoring"):
        service = get(props, f"{kind}Service")
        components = get(props, f"{kind}Config", "enableComponents")
        if service == "none":
            yield f"{kind} is off ({kind}_service 'none')"
        elif isinstance(components, list) and UNKNOWN not in components and "SYSTEM_COMPONENTS" not in components:
            yield f"{kind} leaves out the system components ({kind}_config enable_components {components})"


@resource_rule(
    name="gcp-gcs-uniform-access",
    description="Cloud Storage buckets use uniform bucket-level access (IAM only, no object ACLs).",
    types=[BUCKET],
    severity=Severity.MEDIUM,
    remediation="Set uniform_bucket_level_access=True.",
    control=Control(
        *CIS_GCP, "5.2", "Ensure that Cloud Storage buckets have uniform bucket-level access enabled", ("CKV_GCP_29",)
    ),
    domain=DOMAIN,
)
def gcs_uniform_access(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    if not_true(get(props, "uniformBucketLevelAccess")):
        yield "uniform bucket-level access is off, so object ACLs can grant access"


@resource_rule(
    name="gcp-gcs-public-access-prevention",
    description="Cloud Storage buckets enforce public access prevention.",
    types=[BUCKET],
    severity=Severity.CRITICAL,
    remediation="Set public_access_prevention='enforced'.",
    control=Control(
        *CIS_GCP,
        "5.1",
        "Ensure that Cloud Storage bucket is not anonymously or publicly accessible",
        ("CKV_GCP_114",),
    ),
    domain=DOMAIN,
)
def gcs_public_access_prevention(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "publicAccessPrevention") not in ("enforced", UNKNOWN):
        yield "public access prevention is not enforced"


@resource_rule(
    name="gcp-gcs-cmek",
    description="Cloud Storage buckets encrypt objects with a customer-managed Cloud KMS key by default.",
    types=[BUCKET],
    severity=Severity.MEDIUM,
    remediation="Set encryption default_kms_key_name to the lake's Cloud KMS key (grant the GCS service agent "
    "roles/cloudkms.cryptoKeyEncrypterDecrypter on it).",
    control=Control(*AIINFRA, "DATA-1", "Data lakes are encrypted with customer-managed keys"),
    domain=DOMAIN,
)
def gcs_cmek(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "encryption", "defaultKmsKeyName") in (None, ""):
        yield "objects are encrypted with Google-managed keys, not a customer-managed key"


def _public_members(resource_type: str, props: dict[str, Any]) -> list[str]:
    """The public members (allUsers, allAuthenticatedUsers) a bucket IAM or ACL resource grants."""
    if resource_type == "gcp:storage/bucketIAMPolicy:BucketIAMPolicy":
        data = get(props, "policyData")
        try:
            bindings = json.loads(data).get("bindings", []) if isinstance(data, str) else []
        except ValueError:
            bindings = []
        members = [m for b in bindings if isinstance(b, dict) for m in strings(b.get("members"))]
    else:
        members = strings(get(props, "member")) + strings(get(props, "members")) + strings(get(props, "entity"))
        members += [entry.split(":", 1)[-1] for entry in strings(get(props, "roleEntities"))]
        if get(props, "predefinedAcl") in ("publicRead", "publicReadWrite"):
            members.append("allUsers")
    return [m for m in members if m in PUBLIC_MEMBERS]


@resource_rule(
    name="gcp-gcs-no-public-members",
    description="No bucket IAM binding or ACL grants allUsers or allAuthenticatedUsers.",
    types=[
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        "gcp:storage/bucketIAMBinding:BucketIAMBinding",
        "gcp:storage/bucketIAMPolicy:BucketIAMPolicy",
        "gcp:storage/bucketAccessControl:BucketAccessControl",
        "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl",
        "gcp:storage/bucketACL:BucketACL",
        "gcp:storage/defaultObjectACL:DefaultObjectACL",
    ],
    severity=Severity.CRITICAL,
    remediation="Grant access to named service accounts or groups (DataLake.grant()); serve public content "
    "through a CDN with signed URLs instead.",
    control=Control(
        *CIS_GCP, "5.1", "Ensure that Cloud Storage bucket is not anonymously or publicly accessible", ("CKV_GCP_28",)
    ),
    domain=DOMAIN,
)
def gcs_no_public_members(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    for member in sorted(set(_public_members(args.resource_type, props))):
        yield f"grants bucket access to {member}"


ROTATION_SCHEMA = PolicyConfigSchema(
    properties={"maxRotationDays": {"type": "number", "exclusiveMinimum": 0, "default": 90}}
)
SECONDS_PER_DAY = 86400


@resource_rule(
    name="gcp-kms-key-rotation",
    description="Cloud KMS symmetric keys rotate at least every 90 days (configurable).",
    types=["gcp:kms/cryptoKey:CryptoKey"],
    severity=Severity.MEDIUM,
    remediation="Set rotation_period to '7776000s' (90 days) or less.",
    control=Control(
        *CIS_GCP, "1.10", "Ensure KMS encryption keys are rotated within a period of 90 days", ("CKV_GCP_43",)
    ),
    domain=DOMAIN,
    config_schema=ROTATION_SCHEMA,
)
def gcp_kms_key_rotation(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "purpose") not in (None, "ENCRYPT_DECRYPT"):
        return  # asymmetric and MAC keys cannot rotate automatically
    period = get(props, "rotationPeriod")
    max_days = float(args.get_config().get("maxRotationDays") or 90)
    if period is UNKNOWN:
        return
    if period is None:
        yield "the key never rotates (no rotation_period)"
        return
    match = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(period))
    if match is None or float(match[1]) > max_days * SECONDS_PER_DAY:
        yield f"rotation period {period} is longer than {max_days:g} days"


ARTIFACT_REPOSITORY = "gcp:artifactregistry/repository:Repository"


@resource_rule(
    name="gcp-artifact-registry-cmek",
    description="Artifact Registry repositories encrypt images with a customer-managed Cloud KMS key.",
    types=[ARTIFACT_REPOSITORY],
    severity=Severity.MEDIUM,
    remediation="Set kms_key_name to a CryptoKey the Artifact Registry service agent may use; ImageRegistry does.",
    control=checkov_control(
        "CKV_GCP_84", "Ensure Artifact Registry Repositories are encrypted with Customer Supplied Encryption Keys"
    ),
    domain=DOMAIN,
)
def artifact_registry_cmek(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "kmsKeyName") is None:
        yield "images are encrypted with a Google-managed key"


POLICIES = [
    gke_private_nodes,
    gke_secrets_encryption,
    gke_no_legacy_abac,
    gke_no_client_certificate,
    gke_workload_identity,
    gke_network_policy,
    gke_shielded_nodes,
    gke_node_service_account,
    gke_private_endpoint,
    gke_node_auto_repair_upgrade,
    gke_secure_boot,
    gke_cos_nodes,
    gke_release_channel,
    gke_vpc_native,
    gke_no_alpha,
    gke_legacy_metadata_disabled,
    gke_logging_monitoring,
    gcs_uniform_access,
    gcs_public_access_prevention,
    gcs_cmek,
    gcs_no_public_members,
    gcp_kms_key_rotation,
    artifact_registry_cmek,
]
