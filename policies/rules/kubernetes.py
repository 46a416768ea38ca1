"""Kubernetes rules: pod security of every workload kind (Pod, Deployment, DaemonSet, StatefulSet,
ReplicaSet, Job, CronJob, JobSet), GPU scheduling, images, Services and RBAC bindings.

Device plugins and fabric daemons legitimately need host access. aiinfra's own are reviewed once, in
`aiinfra.core.exceptions`, and let through in every environment while they run exactly their reviewed images;
a container requesting an RDMA device may add the capability verbs need. Each pod-security rule also takes an
`allowlist` of the environment's own reviewed workloads (namespace/name) with the reason, in the policy config.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from aiinfra.core.exceptions import (
    DEVICE_CAPABILITIES,
    REVIEWED_PRIVILEGED_NAMESPACES,
    reviewed_host_mount,
    reviewed_sidecar,
    reviewed_workload,
)
from aiinfra.core.pod_security import (
    APPARMOR_TYPES,
    RESTRICTED_CAPABILITIES,
    RESTRICTED_VOLUMES,
    SAFE_SYSCTLS,
    SECCOMP_TYPES,
    SELINUX_TYPES,
)

from .common import (
    AIINFRA,
    ALLOWLIST_SCHEMA,
    CIS_K8S,
    UNKNOWN,
    Control,
    StackResource,
    allowlisted,
    checkov_control,
    get,
    is_false,
    is_true,
    items,
    number,
    plain,
    resource_rule,
    stack_rule,
    strings,
)
from .standards import (
    PSS_APPARMOR,
    PSS_CAPABILITIES_BASELINE,
    PSS_CAPABILITIES_RESTRICTED,
    PSS_HOST_NAMESPACES,
    PSS_HOST_PATH,
    PSS_HOST_PORTS,
    PSS_HOST_PROBES,
    PSS_HOST_PROCESS,
    PSS_NON_ROOT,
    PSS_NON_ROOT_USER,
    PSS_PRIVILEGE_ESCALATION,
    PSS_PRIVILEGED,
    PSS_PROC_MOUNT,
    PSS_SECCOMP_BASELINE,
    PSS_SECCOMP_RESTRICTED,
    PSS_SELINUX,
    PSS_SYSCTLS,
    PSS_VOLUME_TYPES,
    aks,
    eks,
    gke,
    managed,
)

DOMAIN = "kubernetes"
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
JOBSET = "kubernetes:jobset.x-k8s.io/v1alpha2:JobSet"
WORKLOADS = (*POD_SPEC_PATHS, JOBSET)
GPU = "nvidia.com/gpu"
GPU_NODE_LABELS = (
    "nvidia.com/gpu.present",
    "nvidia.com/gpu.product",
    "cloud.google.com/gke-accelerator",
    "k8s.amazonaws.com/accelerator",
    "aiinfra.dev/accelerator",
)
NOT_GPU_VALUES = ("cpu", "false")


def _cis(reference: str, title: str, *checkov: str) -> Control:
    return Control(*CIS_K8S, reference, title, checkov)


def workload_key(props: dict[str, Any], args: ResourceValidationArgs) -> str:
    """`namespace/name` of an object, as allowlists name it (the Pulumi name when metadata.name is auto)."""
    namespace = get(props, "metadata", "namespace")
    name = get(props, "metadata", "name")
    namespace = namespace if isinstance(namespace, str) else "default"
    return f"{namespace}/{name if isinstance(name, str) else args.name}"


def pod_templates(resource_type: str, props: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(annotations, spec) of each pod template of a workload (a JobSet has one per replicated job); unknown specs
    are skipped, unknown or absent annotations are empty."""
    if resource_type == JOBSET:
        templates = [get(job, "template", "spec", "template") for job in items(get(props, "spec", "replicatedJobs"))]
    elif resource_type == "kubernetes:core/v1:Pod":
        templates = [props]
    else:
        templates = [get(props, *POD_SPEC_PATHS[resource_type][:-1])]
    found = []
    for template in templates:
        spec, annotations = get(template, "spec"), get(template, "metadata", "annotations")
        if isinstance(spec, dict):
            found.append((annotations if isinstance(annotations, dict) else {}, spec))
    return found


def pod_specs(resource_type: str, props: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod specs of a workload (a JobSet has one per replicated job); unknown specs are skipped."""
    return [spec for _, spec in pod_templates(resource_type, props)]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Regular, init (including native sidecars) and ephemeral containers."""
    found = items(spec.get("containers")) + items(spec.get("initContainers"))
    return [c for c in found + items(spec.get("ephemeralContainers")) if isinstance(c, dict)]


def _container_setting(spec: dict[str, Any], container: dict[str, Any], *path: str) -> Any:
    """A securityContext setting: the container's own, else the pod's."""
    own = get(container, "securityContext", *path)
    return own if own is not None else get(spec, "securityContext", *path)


def _added_capabilities(container: dict[str, Any]) -> list[Any]:
    return items(get(container, "securityContext", "capabilities", "add"))


def reviewed_daemon(key: str, rule: str, specs: list[dict[str, Any]]) -> bool:
    """Whether the workload is one of aiinfra's reviewed node daemons, running only its reviewed images."""
    images = [c.get("image") for spec in specs for c in containers(spec)]
    named = [i for i in images if isinstance(i, str)]
    return len(named) == len(images) and reviewed_workload(key, rule, named) is not None


def without_reviewed_sidecars(spec: dict[str, Any], rule: str) -> dict[str, Any]:
    """The pod spec less the reviewed fabric sidecars `rule` lets through: same name and image, no more
    capabilities than reviewed, not privileged."""

    def reviewed(container: Any) -> bool:
        if not isinstance(container, dict) or is_true(get(container, "securityContext", "privileged")):
            return False
        entry = reviewed_sidecar(str(container.get("name")), str(container.get("image")), rule)
        return entry is not None and set(_added_capabilities(container)) <= set(entry.capabilities)

    kept = {field: [c for c in items(spec.get(field)) if not reviewed(c)] for field in ("containers", "initContainers")}
    return {**spec, **{field: value for field, value in kept.items() if field in spec}}


PodCheck = Callable[[dict[str, Any], dict[str, Any]], Iterable[str]]
"""`check(pod_spec, pod_annotations)`: one message per problem of one pod template."""


def pod_security_rule(
    name: str,
    description: str,
    severity: Severity,
    remediation: str,
    control: Control,
    *standards: Control,
) -> Callable[[PodCheck], ResourceValidationPolicy]:
    """Decorator: `check(pod_spec, annotations)` yields problems of every workload kind, except allowlisted
    workloads and the reviewed daemons and sidecars."""

    def build(check: PodCheck) -> ResourceValidationPolicy:
        @resource_rule(
            name=name,
            description=description,
            types=WORKLOADS,
            severity=severity,
            remediation=remediation,
            control=control,
            domain=DOMAIN,
            config_schema=ALLOWLIST_SCHEMA,
            standards=standards,
        )
        def validate(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
            key = workload_key(props, args)
            templates = pod_templates(args.resource_type, props)
            if allowlisted(args.get_config(), key) or reviewed_daemon(key, name, [spec for _, spec in templates]):
                return
            for pod_annotations, spec in templates:
                for problem in check(without_reviewed_sidecars(spec, name), pod_annotations):
                    yield f"{key}: {problem}"

        return validate

    return build


SECURITY_CONTEXT = (eks("4.5.2"), gke("4.6.3"), aks("4.6.2"))
"""'Apply Security Context to Your Pods and Containers': the settings the rules that claim it require."""


def _security_contexts(spec: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(whose, securityContext) of the pod and of each of its containers."""
    yield "the pod", spec.get("securityContext")
    for container in containers(spec):
        yield f"container {container.get('name')}", container.get("securityContext")


@pod_security_rule(
    "k8s-no-privileged",
    "Containers do not run privileged, unless the workload is on the reviewed allowlist.",
    Severity.CRITICAL,
    "Remove securityContext.privileged; grant the specific capability or device instead, or add the workload "
    "with its reason to the policy's allowlist after review.",
    _cis("5.2.2", "Minimize the admission of privileged containers", "CKV_K8S_16"),
    PSS_PRIVILEGED,
    *managed("4.2.1"),
)
def no_privileged(spec: dict[str, Any], _annotations: dict[str, Any]) -> Iterator[str]:
    for container in containers(spec):
        if is_true(get(container, "securityContext", "privileged")):
            yield f"container {container.get('name')} is privileged"


@pod_security_rule(
    "k8s-no-host-namespaces",
    "Pods do not share the node's network, PID or IPC namespace, unless on the reviewed allowlist.",
    Severity.HIGH,
    "Remove hostNetwork/hostPID/hostIPC, or add the workload (e.g. a fabric daemon) with its reason to the "
    "policy's allowlist after review.",
    _cis(
        "5.2.3",
        "Minimize the admission of containers wishing to share the host process ID namespace",
        "CKV_K8S_17",
    ),
    _cis("5.2.4", "Minimize the admission of containers wishing to share the host IPC namespace", "CKV_K8S_18"),
    _cis("5.2.5", "Minimize the admission of containers wishing to share the host network namespace", "CKV_K8S_19"),
    PSS_HOST_NAMESPACES,
    *managed("4.2.2"),
    *managed("4.2.3"),
    *managed("4.2.4"),
)
def no_host_namespaces(spec: dict[str, Any], _annotations: dict[str, Any]) -> Iterator[str]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if is_true(spec.get(field)):
            yield f"the pod sets {field}"


@pod_security_rule(
    "k8s-no-privilege-escalation",
    "Containers set allowPrivilegeEscalation false (Pod Security Standard 'restricted').",
    Severity.HIGH,
    "Set securityContext.allowPrivilegeEscalation=false on every container.",
    _cis("5.2.6", "Minimize the admission of containers with allowPrivilegeEscalation", "CKV_K8S_20"),
    PSS_PRIVILEGE_ESCALATION,
    *managed("4.2.5"),
    *SECURITY_CONTEXT,
)
def no_privilege_escalation(spec: dict[str, Any], _annotations: dict[str, Any]) -> Iterator[str]:
    for container in containers(spec):
        escalation = get(container, "securityContext", "allowPrivilegeEscalation")
        if escalation is not UNKNOWN and not is_false(escalation):
            yield f"container {container.get('name')} may escalate privileges (allowPrivilegeEscalation not false)"


@pod_security_rule(
    "k8s-no-added-capabilities",
    "Containers add no Linux capabilities beyond NET_BIND_SERVICE (and IPC_LOCK with an RDMA device), unless "
    "reviewed: 'restricted''s rule, stricter than 'baseline''s list of 13.",
    Severity.HIGH,
    "Remove securityContext.capabilities.add (drop ALL instead), or add the workload (e.g. an RDMA job that "
    "needs IPC_LOCK) with its reason to the policy's allowlist after review.",
    _cis("5.2.9", "Minimize the admission of containers with added capabilities", "CKV_K8S_25"),
    PSS_CAPABILITIES_BASELINE,
    PSS_CAPABILITIES_RESTRICTED,
    gke("4.2.8"),
)
def no_added_capabilities(spec: dict[str, Any], _annotations: dict[str, Any]) -> Iterator[str]:
    for container in containers(spec):
        allowed: set[str] = set(RESTRICTED_CAPABILITIES)
        for section in ("requests", "limits"):
            devices = get(container, "resources", section)
            if devices is UNKNOWN:  # during preview: it may request the device
                allowed.update(c for capabilities in DEVICE_CAPABILITIES.values() for c in capabilities)
            for device in devices if isinstance(devices, dict) else ():
                allowed.update(DEVICE_CAPABILITIES.get(device, ()))
        added = [c for c in _added_capabilities(container) if c not in allowed]
        if added:
            yield f"container {container.get('name')} adds {', '.join(map(str, added))}"


@pod_security_rule(
    "k8s-drop-all-capabilities",
    "Every container drops ALL Linux capabilities (Pod Security Standard 'restricted'), so NET_RAW and the rest of "
    "the runtime's default set are gone unless added back by name.",
    Severity.MEDIUM,
    "Set securityContext.capabilities.drop=['ALL'] on every container and init container; add back only what "
    "k8s-no-added-capabilities admits.",
    PSS_CAPABILITIES_RESTRICTED,
    _cis("5.2.10", "Minimize the admission of containers with capabilities assigned", "CKV_K8S_37"),
    _cis("5.2.8", "Minimize the admission of containers with the NET_RAW capability", "CKV_K8S_28"),
    gke("4.2.7"),
    gke("4.2.9"),
    *SECURITY_CONTEXT,
)
def drop_all_capabilities(spec: dict[str, Any], _annotations: dict[str, Any]) -> Iterator[str]:
    for container in containers(spec):
        dropped = get(container, "securityContext", "capabilities", "drop")
        if dropped is not UNKNOWN and UNKNOWN not in (dropped or []) and "ALL" not in strings(dropped):
            yield f"container {container.get('name')} does not drop ALL capabilities"


@pod_security_rule(
    "k8s-run-as-non-root",
    "Containers must run as non-root: runAsNonRoot true on every container, or on the pod and not overridden.",
    Severity.HIGH,
    "Set securityContext.runAsNonRoot=true (pod level) and build images with a non-root USER.",
    _cis("5.2.7", "Minimize the admission of root containers", "CKV_K8S_23"),
    PSS_NON_ROOT,
    gke("4.2.6"),
    *SECURITY_CONTEXT,
)
def run_as_non_root(spec: dict[str, Any], _annotations: dict[str, Any]) -> Iterator[str]:
    pod_level = get(spec, "securityContext", "runAsNonRoot")
    if is_false(pod_level):
        yield "the pod sets runAsNonRoot false"
    for container in containers(spec):
        non_root = _container_setting(spec, container, "runAsNonRoot")
        if non_root is not UNKNOWN and not is_true(non_root):
            yield f"container {container.get('name')} may run as root (runAsNonRoot is not true)"


@pod_security_rule(
    "k8s-no-run-as-user-0",
    "Neither the pod nor any container sets runAsUser 0 (Pod Security Standard 'restricted').",
    Severity.HIGH,
    "Remove runAsUser: 0, or set a non-zero user ID the image supports.",
    PSS_NON_ROOT_USER,
)
def no_run_as_user_0(spec: dict[str, Any], _annotations: dict[str, Any]) -> Iterator[str]:
    for whose, context in _security_contexts(spec):
        user = get(context, "runAsUser")
        if user is not UNKNOWN and number(user) == 0:
            yield f"{whose} sets runAsUser 0"


@pod_security_rule(
    "k8s-seccomp-runtime-default",
    "Containers run under the RuntimeDefault (or a Localhost) seccomp profile; none is set Unconfined.",
    Severity.MEDIUM,
    "Set securityContext.seccompProfile.type=RuntimeDefault at pod level.",
    _cis("5.7.2", "Ensure that the seccomp profile is set to docker/default in your pod definitions", "CKV_K8S_31"),
    PSS_SECCOMP_BASELINE,
    PSS_SECCOMP_RESTRICTED,
    gke("4.6.2"),
    *SECURITY_CONTEXT,
)
def seccomp_runtime_default(spec: dict[str, Any], _annotations: dict[str, Any]) -> Iterator[str]:
    if get(spec, "securityContext", "seccompProfile", "type") == "Unconfined":
        yield "the pod sets seccomp profile Unconfined"
    for container in containers(spec):
        profile = _container_setting(spec, container, "seccompProfile", "type")
        if profile not in (*SECCOMP_TYPES, UNKNOWN):
            yield f"container {container.get('name')} runs with seccomp profile {profile or 'Unconfined (unset)'}"


@pod_security_rule(
    "k8s-no-host-process",
    "No pod or container runs as a Windows HostProcess container (Pod Security Standard 'baseline').",
    Severity.CRITICAL,
    "Remove securityContext.windowsOptions.hostProcess; node agents go on the allowlist after review.",
    PSS_HOST_PROCESS,
    _cis("5.2.11", "Minimize the admission of Windows HostProcess containers"),
)
def no_host_process(spec: dict[str, Any], _annotations: dict[str, Any]) -> Iterator[str]:
    for whose, context in _security_contexts(spec):
        if is_true(get(context, "windowsOptions", "hostProcess")):
            yield f"{whose} sets windowsOptions.hostProcess"


def _mounts(spec: dict[str, Any]) -> dict[Any, list[tuple[dict[str, Any], Any]]]:
    """Volume name → (container, mountPath) of each mount of it."""
    found: dict[Any, list[tuple[dict[str, Any], Any]]] = {}
    for container in containers(spec):
        for mount in items(container.get("volumeMounts")):
            found.setdefault(get(mount, "name"), []).append((container, get(mount, "mountPath")))
    return found


@pod_security_rule(
    "k8s-no-host-path",
    "Pods mount no hostPath volume (Pod Security Standard 'baseline'), except the fabric host paths reviewed in "
    "aiinfra.core.exceptions, mounted where and by whom they were reviewed.",
    Severity.HIGH,
    "Use an emptyDir, a projected or CSI volume, or a PersistentVolumeClaim (local NVMe through a local "
    "PersistentVolume); a node agent that needs the host goes on the allowlist with its reason after review.",
    PSS_HOST_PATH,
    _cis("5.2.12", "Minimize the admission of HostPath volumes", "CKV_K8S_27"),
)
def no_host_path(spec: dict[str, Any], _annotations: dict[str, Any]) -> Iterator[str]:
    mounts = _mounts(spec)
    for volume in items(spec.get("volumes")):
        host_path = get(volume, "hostPath")
        path = get(host_path, "path")
        if host_path is None or UNKNOWN in (host_path, path):
            continue
        name = get(volume, "name")
        users = mounts.get(name, [])
        unreviewed = [
            f"container {c.get('name')} at {at}"
            for c, at in users
            if reviewed_host_mount(str(path), str(at), str(c.get("name")), str(c.get("image"))) is None
        ]
        if unreviewed or not users:
            where = f", mounted by {'; '.join(unreviewed)}" if unreviewed else ""
            yield f"volume {name} is host path {path}{where}"


@pod_security_rule(
    "k8s-restricted-volume-types",
    "Pod volumes are of the types Pod Security Standard 'restricted' allows: configMap, csi, downwardAPI, emptyDir, "
    "ephemeral, persistentVolumeClaim, projected, secret (hostPath is k8s-no-host-path's).",
    Severity.MEDIUM,
    "Reach network or cloud storage through a PersistentVolumeClaim (the PersistentVolume holds the driver "
    "settings) or a CSI volume, not an in-line nfs/iscsi/cloud-disk volume.",
    PSS_VOLUME_TYPES,
)
def restricted_volume_types(spec: dict[str, Any], _annotations: dict[str, Any]) -> Iterator[str]:
    for volume in items(spec.get("volumes")):
        if not isinstance(volume, dict):
            continue
        kinds = [k for k in volume if k not in ("name", "hostPath", *RESTRICTED_VOLUMES)]
        if kinds:
            yield f"volume {volume.get('name')} is of type {', '.join(kinds)}"


@pod_security_rule(
    "k8s-no-host-ports",
    "Containers bind no host port (Pod Security Standard 'baseline'): a Service or the pod's own IP serves instead.",
    Severity.HIGH,
    "Remove ports[].hostPort and expose the container through a Service; a node agent that must listen on the "
    "node goes on the allowlist with its reason after review.",
    PSS_HOST_PORTS,
    _cis("5.2.13", "Minimize the admission of containers which use HostPorts", "CKV_K8S_26"),
)
def no_host_ports(spec: dict[str, Any], _annotations: dict[str, Any]) -> Iterator[str]:
    for container in containers(spec):
        for port in items(container.get("ports")):
            host_port = get(port, "hostPort")
            if (number(host_port) or 0) != 0:
                yield f"container {container.get('name')} binds host port {number(host_port):g}"


HANDLERS = ("livenessProbe", "readinessProbe", "startupProbe")
HOOKS = ("postStart", "preStop")


@pod_security_rule(
    "k8s-no-host-probes",
    "Probes and lifecycle hooks do not set a host: they reach the pod itself, never another address "
    "(Pod Security Standard 'baseline', Kubernetes 1.34).",
    Severity.MEDIUM,
    "Remove httpGet.host and tcpSocket.host from probes and lifecycle hooks (use an httpHeaders Host header for "
    "virtual hosts).",
    PSS_HOST_PROBES,
)
def no_host_probes(spec: dict[str, Any], _annotations: dict[str, Any]) -> Iterator[str]:
    for container in containers(spec):
        handlers = [(h, container.get(h)) for h in HANDLERS]
        handlers += [(f"lifecycle.{h}", get(container, "lifecycle", h)) for h in HOOKS]
        for where, handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                host = get(handler, action, "host")
                if host not in (None, "", UNKNOWN):
                    yield f"container {container.get('name')}: {where}.{action} targets host {host}"


APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


@pod_security_rule(
    "k8s-apparmor-not-unconfined",
    "No pod or container turns AppArmor off: profile RuntimeDefault or Localhost, in the field or the beta "
    "annotation (Pod Security Standard 'baseline').",
    Severity.HIGH,
    "Remove appArmorProfile type Unconfined (and container.apparmor.security.beta.kubernetes.io annotations other "
    "than runtime/default or localhost/<profile>).",
    PSS_APPARMOR,
)
def apparmor_not_unconfined(spec: dict[str, Any], annotations: dict[str, Any]) -> Iterator[str]:
    for whose, context in _security_contexts(spec):
        profile = get(context, "appArmorProfile", "type")
        if profile not in (None, UNKNOWN, *APPARMOR_TYPES):
            yield f"{whose} sets AppArmor profile {profile}"
    for key, value in annotations.items():
        confined = value is UNKNOWN or value == "runtime/default" or str(value).startswith("localhost/")
        if key.startswith(APPARMOR_ANNOTATION) and not confined:
            yield f"annotation {key} sets AppArmor profile {value}"


@pod_security_rule(
    "k8s-selinux-options",
    "SELinux options keep the container types: type container_t, container_init_t, container_kvm_t or "
    "container_engine_t, and no user or role (Pod Security Standard 'baseline').",
    Severity.HIGH,
    "Remove seLinuxOptions.user and .role, and any type other than the container types.",
    PSS_SELINUX,
)
def selinux_options(spec: dict[str, Any], _annotations: dict[str, Any]) -> Iterator[str]:
    for whose, context in _security_contexts(spec):
        options = get(context, "seLinuxOptions")
        kind = get(options, "type")
        if kind not in (None, "", UNKNOWN, *SELINUX_TYPES):
            yield f"{whose} sets SELinux type {kind}"
        for field in ("user", "role"):
            if get(options, field) not in (None, "", UNKNOWN):
                yield f"{whose} sets SELinux {field} {get(options, field)}"


@pod_security_rule(
    "k8s-default-proc-mount",
    "Containers keep the default masked /proc (procMount Default; Pod Security Standard 'baseline').",
    Severity.HIGH,
    "Remove securityContext.procMount (or set it to Default).",
    PSS_PROC_MOUNT,
)
def default_proc_mount(spec: dict[str, Any], _annotations: dict[str, Any]) -> Iterator[str]:
    for container in containers(spec):
        mount = get(container, "securityContext", "procMount")
        if mount not in (None, UNKNOWN, "Default"):
            yield f"container {container.get('name')} sets procMount {mount}"


@pod_security_rule(
    "k8s-safe-sysctls",
    "Pods set only the safe sysctls Pod Security Standard 'baseline' allows.",
    Severity.HIGH,
    f"Remove the other sysctls from securityContext.sysctls (allowed: {', '.join(SAFE_SYSCTLS)}); tune the node "
    "in its configuration instead.",
    PSS_SYSCTLS,
)
def safe_sysctls(spec: dict[str, Any], _annotations: dict[str, Any]) -> Iterator[str]:
    for sysctl in items(get(spec, "securityContext", "sysctls")):
        name = get(sysctl, "name")
        if name not in (None, UNKNOWN, *SAFE_SYSCTLS):
            yield f"the pod sets sysctl {name}"


@resource_rule(
    name="k8s-resource-limits",
    description="Every container sets CPU and memory limits, so one job cannot starve a node.",
    types=WORKLOADS,
    severity=Severity.MEDIUM,
    remediation="Set resources.limits.cpu and resources.limits.memory on every container (and init container).",
    control=Control("Checkov", "3", "CKV_K8S_11", "CPU limits should be set", ("CKV_K8S_11", "CKV_K8S_13")),
    domain=DOMAIN,
)
def resource_limits(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    for spec in pod_specs(args.resource_type, props):
        for container in containers(spec):
            limits = get(container, "resources", "limits")
            if limits is UNKNOWN:
                continue
            missing = [r for r in ("cpu", "memory") if get(limits, r) is None]
            if missing:
                yield f"container {container.get('name')} has no {' or '.join(missing)} limit"


def _targets_gpu_nodes(spec: dict[str, Any]) -> bool:
    selector = spec.get("nodeSelector")
    selected = {k: v for k, v in selector.items() if k in GPU_NODE_LABELS} if isinstance(selector, dict) else {}
    if any(str(v).lower() not in NOT_GPU_VALUES for v in selected.values() if v is not UNKNOWN):
        return True
    affinity_terms = items(
        get(spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
    )
    expressions = [e for term in affinity_terms for e in items(get(term, "matchExpressions"))]
    if any(get(e, "key") in GPU_NODE_LABELS and get(e, "operator") in ("In", "Exists") for e in expressions):
        return True
    return any(get(t, "key") == GPU for t in items(spec.get("tolerations")))


def _requests_gpu(spec: dict[str, Any]) -> bool | None:
    """True/False, or None when a container's resources are unknown."""
    amounts = []
    for container in items(spec.get("containers")) + items(spec.get("initContainers")):
        for section in ("limits", "requests"):
            amounts.append(get(container, "resources", section, GPU))
    if UNKNOWN in amounts:
        return None
    return any((number(a) or 0) > 0 for a in amounts)


@resource_rule(
    name="k8s-gpu-pods-request-gpus",
    description="Pods that select or tolerate GPU nodes request nvidia.com/gpu, so they cannot idle a GPU node "
    "or share GPUs unscheduled.",
    types=WORKLOADS,
    severity=Severity.MEDIUM,
    remediation="Add resources.limits['nvidia.com/gpu'] to the container that uses the GPU, or drop the GPU "
    "nodeSelector/toleration; node agents (device plugins, DCGM) go on the allowlist.",
    control=Control(*AIINFRA, "GPU-1", "GPU capacity is only scheduled by GPU requests"),
    domain=DOMAIN,
    config_schema=ALLOWLIST_SCHEMA,
)
def gpu_pods_request_gpus(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    key = workload_key(props, args)
    specs = pod_specs(args.resource_type, props)
    if allowlisted(args.get_config(), key) or reviewed_daemon(key, "k8s-gpu-pods-request-gpus", specs):
        return
    for spec in specs:
        if _targets_gpu_nodes(spec) and _requests_gpu(spec) is False:
            yield f"{key}: targets GPU nodes but requests no {GPU}"


def _image_problem(image: Any) -> str | None:
    if not isinstance(image, str) or "@sha256:" in image:
        return None
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return f"image {image} has no tag (pulls :latest)"
    if name.rsplit(":", 1)[1] == "latest":
        return f"image {image} uses the mutable :latest tag"
    return None


@resource_rule(
    name="k8s-image-pinned",
    description="Container images are pinned to a version tag or digest, never :latest or untagged.",
    types=WORKLOADS,
    severity=Severity.MEDIUM,
    remediation="Reference images by an immutable version tag or by digest (image@sha256:...).",
    control=checkov_control("CKV_K8S_14", "Image Tag should be fixed - not latest or blank"),
    domain=DOMAIN,
)
def image_pinned(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    for spec in pod_specs(args.resource_type, props):
        for container in containers(spec):
            problem = _image_problem(container.get("image"))
            if problem:
                yield f"container {container.get('name')}: {problem}"


DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


@resource_rule(
    name="k8s-image-digest",
    description="Every container and init container references its image by digest (image@sha256:<64 hex>), so "
    "what runs is what was reviewed and scanned; aiinfra's reviewed daemons and sidecars run their reviewed images.",
    types=WORKLOADS,
    severity=Severity.MEDIUM,
    remediation="Pin the image by digest: <registry>/<repository>[:tag]@sha256:<digest> (e.g. from `crane digest` "
    "or the registry's manifest).",
    control=checkov_control("CKV_K8S_43", "Image should use digest"),
    domain=DOMAIN,
    enforcement=EnforcementLevel.ADVISORY,
    config_schema=ALLOWLIST_SCHEMA,
)
def image_digest(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    key = workload_key(props, args)
    specs = pod_specs(args.resource_type, props)
    if allowlisted(args.get_config(), key) or reviewed_daemon(key, "k8s-image-digest", specs):
        return
    for spec in specs:
        for container in containers(without_reviewed_sidecars(spec, "k8s-image-digest")):
            image = container.get("image")
            if isinstance(image, str) and not DIGEST.search(image):
                yield f"{key}: container {container.get('name')} image {image} is not pinned by digest"


@resource_rule(
    name="k8s-secrets-as-files",
    description="Containers read Secrets from mounted files, not environment variables (which leak into logs, "
    "crash dumps and child processes).",
    types=WORKLOADS,
    severity=Severity.MEDIUM,
    remediation="Mount the Secret as a volume (or a projected volume) and read the file; drop env valueFrom "
    "secretKeyRef and envFrom secretRef.",
    control=_cis("5.4.1", "Prefer using Secrets as files over Secrets as environment variables", "CKV_K8S_35"),
    domain=DOMAIN,
    config_schema=ALLOWLIST_SCHEMA,
    standards=(eks("4.4.1"), gke("4.4.1"), aks("4.5.1")),
)
def secrets_as_files(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    key = workload_key(props, args)
    if allowlisted(args.get_config(), key):
        return
    for spec in pod_specs(args.resource_type, props):
        for container in containers(spec):
            named = [get(e, "name") for e in items(container.get("env")) if get(e, "valueFrom", "secretKeyRef")]
            named += [get(e, "secretRef", "name") for e in items(container.get("envFrom")) if get(e, "secretRef")]
            if named:
                yield f"{key}: container {container.get('name')} takes secrets as environment variables ({named})"


NAMESPACED = (
    *WORKLOADS,
    "kubernetes:core/v1:Service",
    "kubernetes:core/v1:ConfigMap",
    "kubernetes:core/v1:Secret",
    "kubernetes:core/v1:ServiceAccount",
    "kubernetes:core/v1:PersistentVolumeClaim",
    "kubernetes:rbac.authorization.k8s.io/v1:Role",
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "kubernetes:networking.k8s.io/v1:Ingress",
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "kubernetes:policy/v1:PodDisruptionBudget",
)


@resource_rule(
    name="k8s-no-default-namespace",
    description="Workloads and their objects live in a namespace of their own, never `default` (which no quota, "
    "network policy or Pod Security level of the platform covers).",
    types=NAMESPACED,
    severity=Severity.LOW,
    remediation="Set metadata.namespace to the team's namespace (team-<team>) or the component's system namespace.",
    control=_cis("5.7.4", "The default namespace should not be used", "CKV_K8S_21"),
    domain=DOMAIN,
    standards=(eks("4.5.3"), gke("4.6.4"), aks("4.6.3")),
)
def no_default_namespace(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    namespace = get(props, "metadata", "namespace")
    if namespace is None and args.provider is not None:
        namespace = get(plain(args.provider.props), "namespace")
    if namespace in (None, "", "default"):
        yield f"{workload_key(props, args)} is in the default namespace"


RBAC_ROLES = ("kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")


@resource_rule(
    name="k8s-rbac-no-wildcards",
    description="Roles and ClusterRoles name their API groups, resources and verbs; none grants '*'.",
    types=RBAC_ROLES,
    severity=Severity.HIGH,
    remediation="List the apiGroups, resources and verbs the subject needs; a reviewed exception (e.g. an "
    "operator's own role) goes on the allowlist with its reason.",
    control=_cis("5.1.3", "Minimize wildcard use in Roles and ClusterRoles", "CKV_K8S_49"),
    domain=DOMAIN,
    config_schema=ALLOWLIST_SCHEMA,
    standards=managed("4.1.3"),
)
def rbac_no_wildcards(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    key = workload_key(props, args)
    if allowlisted(args.get_config(), key):
        return
    for i, rule in enumerate(items(get(props, "rules"))):
        wild = [f for f in ("apiGroups", "resources", "verbs", "nonResourceURLs") if "*" in strings(get(rule, f))]
        if wild:
            yield f"role {key} rule {i} grants '*' in {', '.join(wild)}"


INTERNAL_LB_SCHEMA = PolicyConfigSchema(
    properties={
        "internalAnnotations": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Annotation → value (case-insensitive) that makes a LoadBalancer Service internal.",
            "default": {
                "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
                "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
                "networking.gke.io/load-balancer-type": "Internal",
                "cloud.google.com/load-balancer-type": "Internal",
                "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
            },
        }
    }
)


@resource_rule(
    name="k8s-no-public-loadbalancer",
    description="LoadBalancer Services are internal (cloud annotation); models are exposed through a gateway.",
    types=["kubernetes:core/v1:Service"],
    severity=Severity.HIGH,
    remediation="Add the cloud's internal load balancer annotation (see internalAnnotations), or use a ClusterIP "
    "Service behind the platform's authenticated ingress.",
    control=Control(*AIINFRA, "NET-1", "Inference endpoints are not exposed to the internet"),
    domain=DOMAIN,
    config_schema=INTERNAL_LB_SCHEMA,
)
def no_public_loadbalancer(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "spec", "type") != "LoadBalancer":
        return
    annotations = get(props, "metadata", "annotations")
    if annotations is UNKNOWN:
        return
    internal = args.get_config().get("internalAnnotations") or {}
    given = annotations if isinstance(annotations, dict) else {}
    if not any(str(given.get(key, "")).lower() == str(value).lower() for key, value in internal.items()):
        yield f"Service {workload_key(props, args)} gets a public load balancer"


@resource_rule(
    name="k8s-no-cluster-admin-binding",
    description="No RoleBinding or ClusterRoleBinding grants the cluster-admin ClusterRole.",
    types=[
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    ],
    severity=Severity.CRITICAL,
    remediation="Bind a Role or ClusterRole with the verbs and resources the subject needs; reviewed "
    "exceptions go on the allowlist with their reason.",
    control=_cis("5.1.1", "Ensure that the cluster-admin role is only used where required"),
    domain=DOMAIN,
    standards=managed("4.1.1"),
    config_schema=ALLOWLIST_SCHEMA,
)
def no_cluster_admin_binding(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    key = workload_key(props, args)
    if get(props, "roleRef", "name") == "cluster-admin" and not allowlisted(args.get_config(), key):
        yield f"binding {key} grants cluster-admin"


NAMESPACE = "kubernetes:core/v1:Namespace"
ADMISSION_POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
ADMISSION_BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"


def selects(selector: Any, labels: Mapping[str, Any]) -> bool:
    """Whether a label selector selects an object with `labels`; an absent or empty one selects everything, as
    the API server reads it. An unknown selector counts as selecting (never a violation on an unknown)."""
    if selector is None or selector is UNKNOWN:
        return True
    if not isinstance(selector, dict):
        return False
    match = selector.get("matchLabels") or {}
    if match is UNKNOWN:
        return True
    if not isinstance(match, dict) or any(labels.get(key) != value for key, value in match.items()):
        return False
    for expression in items(selector.get("matchExpressions")):
        key, operator = get(expression, "key"), get(expression, "operator")
        values = strings(get(expression, "values"))
        present, value = key in labels, labels.get(key)
        held = {
            "In": present and value in values,
            "NotIn": not present or value not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }
        if not held.get(operator, False):
            return False
    return True


def _holds_pods(policy: StackResource) -> bool:
    """Whether an admission policy validates Pods and fails closed."""
    rules = items(get(policy.props, "spec", "matchConstraints", "resourceRules"))
    pods = any(
        set(strings(get(rule, "apiGroups"))) & {"", "*"} and set(strings(get(rule, "resources"))) & {"pods", "*"}
        for rule in rules
    )
    return pods and get(policy.props, "spec", "failurePolicy") != "Ignore"


def _binding_holds(binding: StackResource, policies: Mapping[str, StackResource], labels: Mapping[str, Any]) -> bool:
    """Whether a binding denies, in a namespace with `labels`, every Pod its policy rejects."""
    props = binding.props
    actions = get(props, "spec", "validationActions")
    policy = policies.get(str(get(props, "spec", "policyName")))
    resources = get(props, "spec", "matchResources")
    narrowed = resources is not UNKNOWN and (
        bool(get(resources, "objectSelector")) or bool(get(resources, "excludeResourceRules"))
    )
    return (
        (actions is UNKNOWN or "Deny" in strings(actions))
        and policy is not None
        and _holds_pods(policy)
        and selects(get(policy.props, "spec", "matchConstraints", "namespaceSelector"), labels)
        and not narrowed
        and (resources is UNKNOWN or selects(get(resources, "namespaceSelector"), labels))
    )


@stack_rule(
    name="k8s-privileged-namespace-admission",
    description="A namespace that Pod Security Admission leaves `privileged` is selected by a "
    "ValidatingAdmissionPolicyBinding (Deny) of a policy on its Pods, on the same cluster: its pods are admitted "
    "by exactly the rules that policy states, never by nothing. Node-agent namespaces are reviewed in "
    "aiinfra.core.exceptions.",
    severity=Severity.HIGH,
    remediation="Keep the namespace at `restricted` (or `baseline`). Where a fabric needs host access, set "
    "TenancyArgs.fabric_admission: the platform layer installs the fabric admission policy, whose binding selects "
    "namespaces labelled aiinfra.dev/pod-security-exceptions=fabric. An environment's own node-agent namespaces "
    "go on this rule's allowlist (workload: the namespace name) with the reason.",
    control=_cis("5.2.1", "Ensure that the cluster has at least one active policy control mechanism in place"),
    domain=DOMAIN,
    config_schema=ALLOWLIST_SCHEMA,
)
def privileged_namespace_admission(
    resources: list[StackResource], config: Mapping[str, Any]
) -> Iterator[tuple[str | None, str]]:
    reviewed = {entry.namespace for entry in REVIEWED_PRIVILEGED_NAMESPACES}
    policies: dict[str | None, dict[str, StackResource]] = {}
    bindings: dict[str | None, list[StackResource]] = {}
    for resource in resources:
        if resource.type == ADMISSION_POLICY:
            name = get(resource.props, "metadata", "name")
            policies.setdefault(resource.provider_urn, {})[str(name if name else resource.name)] = resource
        elif resource.type == ADMISSION_BINDING:
            bindings.setdefault(resource.provider_urn, []).append(resource)
    for resource in resources:
        if resource.type != NAMESPACE:
            continue
        labels = get(resource.props, "metadata", "labels")
        name = get(resource.props, "metadata", "name")
        name = name if isinstance(name, str) else resource.name
        if not isinstance(labels, dict) or labels.get(PSA_ENFORCE) != "privileged":
            continue
        if name in reviewed or allowlisted(config, name):
            continue
        cluster_policies = policies.get(resource.provider_urn, {})
        if any(_binding_holds(b, cluster_policies, labels) for b in bindings.get(resource.provider_urn, [])):
            continue
        yield (
            resource.urn,
            f"namespace {name} enforces Pod Security `privileged` and no ValidatingAdmissionPolicyBinding (Deny) on "
            "its cluster selects it: every pod in it runs without pod security",
        )


POLICIES = [
    no_privileged,
    no_host_namespaces,
    no_privilege_escalation,
    no_added_capabilities,
    drop_all_capabilities,
    run_as_non_root,
    no_run_as_user_0,
    seccomp_runtime_default,
    no_host_process,
    no_host_path,
    restricted_volume_types,
    no_host_ports,
    no_host_probes,
    apparmor_not_unconfined,
    selinux_options,
    default_proc_mount,
    safe_sysctls,
    resource_limits,
    gpu_pods_request_gpus,
    image_pinned,
    image_digest,
    secrets_as_files,
    no_default_namespace,
    rbac_no_wildcards,
    no_public_loadbalancer,
    no_cluster_admin_binding,
    privileged_namespace_admission,
]
