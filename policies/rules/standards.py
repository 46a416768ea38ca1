"""The published controls the pack maps its rules to, beyond each rule's own: every control of the Kubernetes Pod
Security Standards, and the items of the CIS EKS, GKE and AKS benchmarks, with the ones a plan cannot show.

A rule names its controls in its metadata (`control=` and `standards=` of `resource_rule`/`stack_rule`);
`docs/policy-coverage.md` is generated from those and from the catalogues here (tests/policy/test_coverage.py),
so a control listed here with no rule, and no reason why none can check it, shows up as a gap there.

Sources:
- Pod Security Standards, https://kubernetes.io/docs/concepts/security/pod-security-standards/ (Kubernetes v1.34,
  checked 2026-12): 12 baseline controls, 6 restricted ones (two of them, Seccomp and Capabilities, tighten a
  baseline control of the same name).
- CIS benchmark item ids and titles as aquasecurity/kube-bench ships them (cfg/eks-1.5.0, cfg/gke-1.2.0,
  cfg/aks-1.7, cfg/cis-1.8; commit a73ce378, 2026-06-09).
"""

from __future__ import annotations

from dataclasses import dataclass

from .common import CIS_EKS, CIS_GKE, Control

PSS = ("Kubernetes Pod Security Standards", "v1.34")
CIS_AKS = ("CIS Azure Kubernetes Service (AKS) Benchmark", "1.7.0")


def _pss(level: str, slug: str, title: str, *checkov: str) -> Control:
    return Control(*PSS, f"{level}/{slug}", title, checkov)


PSS_HOST_PROCESS = _pss("baseline", "host-process", "HostProcess")
PSS_HOST_NAMESPACES = _pss("baseline", "host-namespaces", "Host Namespaces", "CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19")
PSS_PRIVILEGED = _pss("baseline", "privileged-containers", "Privileged Containers", "CKV_K8S_16")
PSS_CAPABILITIES_BASELINE = _pss("baseline", "capabilities", "Capabilities", "CKV_K8S_25", "CKV_K8S_39")
PSS_HOST_PATH = _pss("baseline", "hostpath-volumes", "HostPath Volumes", "CKV_K8S_27")
PSS_HOST_PORTS = _pss("baseline", "host-ports", "Host Ports", "CKV_K8S_26")
PSS_HOST_PROBES = _pss("baseline", "host-probes-lifecycle-hooks", "Host Probes / Lifecycle Hooks")
PSS_APPARMOR = _pss("baseline", "apparmor", "AppArmor")
PSS_SELINUX = _pss("baseline", "selinux", "SELinux")
PSS_PROC_MOUNT = _pss("baseline", "proc-mount-type", "/proc Mount Type")
PSS_SECCOMP_BASELINE = _pss("baseline", "seccomp", "Seccomp")
PSS_SYSCTLS = _pss("baseline", "sysctls", "Sysctls")
PSS_VOLUME_TYPES = _pss("restricted", "volume-types", "Volume Types")
PSS_PRIVILEGE_ESCALATION = _pss("restricted", "privilege-escalation", "Privilege Escalation", "CKV_K8S_20")
PSS_NON_ROOT = _pss("restricted", "running-as-non-root", "Running as Non-root", "CKV_K8S_23")
PSS_NON_ROOT_USER = _pss("restricted", "running-as-non-root-user", "Running as Non-root user")
PSS_SECCOMP_RESTRICTED = _pss("restricted", "seccomp", "Seccomp", "CKV_K8S_31")
PSS_CAPABILITIES_RESTRICTED = _pss("restricted", "capabilities", "Capabilities", "CKV_K8S_28", "CKV_K8S_37")

PSS_CONTROLS: tuple[Control, ...] = (
    PSS_HOST_PROCESS,
    PSS_HOST_NAMESPACES,
    PSS_PRIVILEGED,
    PSS_CAPABILITIES_BASELINE,
    PSS_HOST_PATH,
    PSS_HOST_PORTS,
    PSS_HOST_PROBES,
    PSS_APPARMOR,
    PSS_SELINUX,
    PSS_PROC_MOUNT,
    PSS_SECCOMP_BASELINE,
    PSS_SYSCTLS,
    PSS_VOLUME_TYPES,
    PSS_PRIVILEGE_ESCALATION,
    PSS_NON_ROOT,
    PSS_NON_ROOT_USER,
    PSS_SECCOMP_RESTRICTED,
    PSS_CAPABILITIES_RESTRICTED,
)
"""Every control of the baseline and restricted profiles, in the page's order."""


@dataclass(frozen=True)
class BenchmarkItem:
    """A benchmark item as the pack stands to it: checked by the rules that name it, or why none can be."""

    control: Control
    not_at_plan_time: str = ""
    """Why a plan cannot show it (node files, runtime state, live RBAC, an external service); empty when it can."""


def _items(benchmark: tuple[str, str], rows: tuple[tuple[str, str, str], ...]) -> tuple[BenchmarkItem, ...]:
    return tuple(BenchmarkItem(Control(*benchmark, reference, title), reason) for reference, title, reason in rows)


NODE_FILES = "kubelet files and flags on the node image; the plan shows the node group, not the node's files"
LIVE_RBAC = "needs every Role and binding in the live cluster (Helm charts and add-ons install their own)"
ACCOUNT_SERVICE = "a setting of the cloud account or its registry, outside the stack's resources"
PRACTICE = "a practice reviewed by people (how access and namespaces are organised), not a resource setting"

_RBAC = (
    ("4.1.1", "Ensure that the cluster-admin role is only used where required", ""),
    ("4.1.2", "Minimize access to secrets", LIVE_RBAC),
    ("4.1.3", "Minimize wildcard use in Roles and ClusterRoles", ""),
    ("4.1.4", "Minimize access to create pods", LIVE_RBAC),
    ("4.1.5", "Ensure that default service accounts are not actively used", ""),
    ("4.1.6", "Ensure that Service Account Tokens are only mounted where necessary", ""),
)
_PODS = (
    ("4.2.1", "Minimize the admission of privileged containers", ""),
    ("4.2.2", "Minimize the admission of containers wishing to share the host process ID namespace", ""),
    ("4.2.3", "Minimize the admission of containers wishing to share the host IPC namespace", ""),
    ("4.2.4", "Minimize the admission of containers wishing to share the host network namespace", ""),
    ("4.2.5", "Minimize the admission of containers with allowPrivilegeEscalation", ""),
)

EKS_ITEMS = _items(
    CIS_EKS,
    (
        ("2.1.1", "Enable audit Logs", ""),
        (
            "3.1.1-3.1.4",
            "Worker node configuration files: kubeconfig and kubelet config permissions and ownership",
            NODE_FILES,
        ),
        (
            "3.2.1-3.2.9",
            "Kubelet: anonymous auth, authorization mode, client CA, read-only port, idle timeout, "
            "iptables chains, event QPS, certificate rotation",
            NODE_FILES,
        ),
        *_RBAC,
        *_PODS,
        (
            "4.1.7",
            "Avoid use of system:masters group",
            "the aws-auth ConfigMap / access entries are managed outside the stack's Kubernetes objects",
        ),
        ("4.1.8", "Limit use of the Bind, Impersonate and Escalate permissions in the Kubernetes cluster", LIVE_RBAC),
        ("4.3.1", "Ensure CNI plugin supports network policies", "a property of the CNI add-on version running"),
        ("4.3.2", "Ensure that all Namespaces have Network Policies defined", ""),
        ("4.4.1", "Prefer using secrets as files over secrets as environment variables", ""),
        ("4.4.2", "Consider external secret storage", PRACTICE),
        ("4.5.1", "Create administrative boundaries between resources using namespaces", PRACTICE),
        ("4.5.2", "Apply Security Context to Your Pods and Containers", ""),
        ("4.5.3", "The default namespace should not be used", ""),
        (
            "5.1.1",
            "Ensure Image Vulnerability Scanning using Amazon ECR image scanning or a third party provider",
            "",
        ),
        ("5.1.2", "Minimize user access to Amazon ECR", ACCOUNT_SERVICE),
        ("5.1.3", "Minimize cluster access to read-only for Amazon ECR", ""),
        ("5.1.4", "Minimize Container Registries to only those approved", ""),
        ("5.2.1", "Prefer using dedicated Amazon EKS Service Accounts", ""),
        ("5.3.1", "Ensure Kubernetes Secrets are encrypted using Customer Master Keys (CMKs) managed in AWS KMS", ""),
        ("5.4.1", "Restrict Access to the Control Plane Endpoint", ""),
        ("5.4.2", "Ensure clusters are created with Private Endpoint Enabled and Public Access Disabled", ""),
        ("5.4.3", "Ensure clusters are created with Private Nodes", ""),
        ("5.4.4", "Ensure Network Policy is Enabled and set as appropriate", ""),
        ("5.4.5", "Encrypt traffic to HTTPS load balancers with TLS certificates", ""),
        ("5.5.1", "Manage Kubernetes RBAC users with AWS IAM Authenticator for Kubernetes", PRACTICE),
    ),
)

GKE_ITEMS = _items(
    CIS_GKE,
    (
        ("2.1.1", "Client certificate authentication should not be used for users", ""),
        (
            "2.2.1-2.2.2",
            "Audit policy: minimal, covering key security concerns",
            "GKE's audit policy is Google-managed, not a cluster argument",
        ),
        ("3.x", "Worker nodes: kubelet configuration files and arguments", NODE_FILES),
        *_RBAC,
        *_PODS,
        ("4.2.6", "Minimize the admission of root containers", ""),
        ("4.2.7", "Minimize the admission of containers with the NET_RAW capability", ""),
        ("4.2.8", "Minimize the admission of containers with added capabilities", ""),
        ("4.2.9", "Minimize the admission of containers with capabilities assigned", ""),
        ("4.3.1", "Ensure that the CNI in use supports Network Policies", ""),
        ("4.3.2", "Ensure that all Namespaces have Network Policies defined", ""),
        ("4.4.1", "Prefer using secrets as files over secrets as environment variables", ""),
        ("4.4.2", "Consider external secret storage", PRACTICE),
        ("4.5.1", "Configure Image Provenance using ImagePolicyWebhook admission controller", ""),
        ("4.6.1", "Create administrative boundaries between resources using namespaces", PRACTICE),
        ("4.6.2", "Ensure that the seccomp profile is set to docker/default in your pod definitions", ""),
        ("4.6.3", "Apply Security Context to Your Pods and Containers", ""),
        ("4.6.4", "The default namespace should not be used", ""),
        ("5.1.1", "Ensure Image Vulnerability Scanning using GCR Container Analysis", ACCOUNT_SERVICE),
        ("5.1.2", "Minimize user access to GCR", ACCOUNT_SERVICE),
        ("5.1.3", "Minimize cluster access to read-only for GCR", ""),
        ("5.1.4", "Minimize Container Registries to only those approved", ""),
        ("5.2.1", "Ensure GKE clusters are not running using the Compute Engine default service account", ""),
        ("5.2.2", "Prefer using dedicated GCP Service Accounts and Workload Identity", ""),
        ("5.3.1", "Ensure Kubernetes Secrets are encrypted using keys managed in Cloud KMS", ""),
        ("5.4.1", "Ensure legacy Compute Engine instance metadata APIs are Disabled", ""),
        ("5.4.2", "Ensure the GKE Metadata Server is Enabled", ""),
        ("5.5.1", "Ensure Container-Optimized OS (COS) is used for GKE node images", ""),
        ("5.5.2", "Ensure Node Auto-Repair is enabled for GKE nodes", ""),
        ("5.5.3", "Ensure Node Auto-Upgrade is enabled for GKE nodes", ""),
        ("5.5.4", "Automate GKE version management using Release Channels", ""),
        ("5.5.5", "Ensure Shielded GKE Nodes are Enabled", ""),
        ("5.5.6", "Ensure Integrity Monitoring for Shielded GKE Nodes is Enabled", ""),
        ("5.5.7", "Ensure Secure Boot for Shielded GKE Nodes is Enabled", ""),
        ("5.6.1", "Enable VPC Flow Logs and Intranode Visibility", ""),
        ("5.6.2", "Ensure use of VPC-native clusters", ""),
        ("5.6.3", "Ensure Master Authorized Networks is Enabled", ""),
        ("5.6.4", "Ensure clusters are created with Private Endpoint Enabled and Public Access Disabled", ""),
        ("5.6.5", "Ensure clusters are created with Private Nodes", ""),
        ("5.6.6", "Consider firewalling GKE worker nodes", ""),
        ("5.6.7", "Ensure Network Policy is Enabled and set as appropriate", ""),
        ("5.6.8", "Ensure use of Google-managed SSL Certificates", ""),
        ("5.7.1", "Ensure Stackdriver Kubernetes Logging and Monitoring is Enabled", ""),
        ("5.7.2", "Enable Linux auditd logging", "a DaemonSet the operator chooses to run, not a cluster setting"),
        (
            "5.8.1",
            "Ensure Basic Authentication using static passwords is Disabled",
            "GKE removed basic authentication in 1.19; the provider has no field left to set",
        ),
        ("5.8.2", "Ensure authentication using Client Certificates is Disabled", ""),
        ("5.8.3", "Manage Kubernetes RBAC users with Google Groups for GKE", ""),
        ("5.8.4", "Ensure Legacy Authorization (ABAC) is Disabled", ""),
        ("5.9.1", "Enable Customer-Managed Encryption Keys (CMEK) for GKE Persistent Disks (PD)", ""),
        (
            "5.10.1",
            "Ensure Kubernetes Web UI is Disabled",
            "GKE removed the Kubernetes Dashboard add-on in 1.15; the provider has no field left to set",
        ),
        ("5.10.2", "Ensure that Alpha clusters are not used for production workloads", ""),
        (
            "5.10.3",
            "Ensure Pod Security Policy is Enabled and set as appropriate",
            "PodSecurityPolicy was removed "
            "in Kubernetes 1.25; Pod Security Admission and the PSS rules above replace it",
        ),
        ("5.10.4", "Consider GKE Sandbox for running untrusted workloads", PRACTICE),
        ("5.10.5", "Ensure use of Binary Authorization", ""),
        ("5.10.6", "Enable Cloud Security Command Center (Cloud SCC)", ACCOUNT_SERVICE),
    ),
)

AKS_ITEMS = _items(
    CIS_AKS,
    (
        ("2.1.1", "Enable audit Logs", ""),
        ("3.x", "Worker nodes: kubelet configuration files and arguments", NODE_FILES),
        *_RBAC,
        *_PODS,
        ("4.4.1", "Ensure latest CNI version is used", "a property of the CNI add-on version running"),
        ("4.4.2", "Ensure that all Namespaces have Network Policies defined", ""),
        ("4.5.1", "Prefer using secrets as files over secrets as environment variables", ""),
        ("4.5.2", "Consider external secret storage", PRACTICE),
        ("4.6.1", "Create administrative boundaries between resources using namespaces", PRACTICE),
        ("4.6.2", "Apply Security Context to Your Pods and Containers", ""),
        ("4.6.3", "The default namespace should not be used", ""),
        (
            "5.1.1",
            "Ensure Image Vulnerability Scanning using Microsoft Defender for Cloud (MDC) image scanning or a "
            "third party provider",
            ACCOUNT_SERVICE,
        ),
        ("5.1.2", "Minimize user access to Azure Container Registry (ACR)", ACCOUNT_SERVICE),
        ("5.1.3", "Minimize cluster access to read-only for Azure Container Registry (ACR)", ""),
        ("5.1.4", "Minimize Container Registries to only those approved", ""),
        ("5.2.1", "Prefer using dedicated AKS Service Accounts", ""),
        ("5.3.1", "Ensure Kubernetes Secrets are encrypted", ""),
        ("5.4.1", "Restrict Access to the Control Plane Endpoint", ""),
        ("5.4.2", "Ensure clusters are created with Private Endpoint Enabled and Public Access Disabled", ""),
        ("5.4.3", "Ensure clusters are created with Private Nodes", ""),
        ("5.4.4", "Ensure Network Policy is Enabled and set as appropriate", ""),
        ("5.4.5", "Encrypt traffic to HTTPS load balancers with TLS certificates", ""),
        ("5.5.1", "Manage Kubernetes RBAC users with Azure AD", ""),
        ("5.5.2", "Use Azure RBAC for Kubernetes Authorization", ""),
    ),
)

BENCHMARKS: tuple[tuple[str, str, tuple[BenchmarkItem, ...]], ...] = (
    (f"{CIS_EKS[0]} {CIS_EKS[1]}", "cfg/eks-1.5.0", EKS_ITEMS),
    (f"{CIS_GKE[0]} {CIS_GKE[1]}", "cfg/gke-1.2.0", GKE_ITEMS),
    (f"{CIS_AKS[0]} {CIS_AKS[1]}", "cfg/aks-1.7", AKS_ITEMS),
)
"""The managed-Kubernetes benchmarks the pack claims, item by item (node-file sections folded into one row)."""


def _item(items: tuple[BenchmarkItem, ...], reference: str) -> Control:
    return next(item.control for item in items if item.control.reference == reference)


def eks(reference: str) -> Control:
    """The CIS EKS item `reference`, as listed above (a rule names it with its title from here)."""
    return _item(EKS_ITEMS, reference)


def gke(reference: str) -> Control:
    return _item(GKE_ITEMS, reference)


def aks(reference: str) -> Control:
    return _item(AKS_ITEMS, reference)


def managed(reference: str) -> tuple[Control, ...]:
    """The item `reference` of each of the EKS, GKE and AKS benchmarks that has it (their section 4 shares ids)."""
    return tuple(item.control for _, _, items in BENCHMARKS for item in items if item.control.reference == reference)
