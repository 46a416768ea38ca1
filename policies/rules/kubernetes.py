"""Kubernetes rules: pod security of every workload kind (Pod, Deployment, DaemonSet, StatefulSet,
ReplicaSet, Job, CronJob, JobSet), GPU scheduling, images, Services and RBAC bindings.

Device plugins and fabric daemons legitimately need host access. aiinfra's own are reviewed once, in
`aiinfra.core.exceptions`, and let through in every environment while they run exactly their reviewed images;
a container requesting an RDMA device may add the capability verbs need. Each pod-security rule also takes an
`allowlist` of the environment's own reviewed workloads (namespace/name) with the reason, in the policy config.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema, ResourceValidationArgs, ResourceValidationPolicy, Severity

from aiinfra.core.exceptions import (
    DEVICE_CAPABILITIES,
    REVIEWED_PRIVILEGED_NAMESPACES,
    reviewed_sidecar,
    reviewed_workload,
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
    resource_rule,
    stack_rule,
    strings,
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


def pod_specs(resource_type: str, props: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod specs of a workload (a JobSet has one per replicated job); unknown specs are skipped."""
    if resource_type == JOBSET:
        jobs = items(get(props, "spec", "replicatedJobs"))
        specs = [get(job, "template", "spec", "template", "spec") for job in jobs]
    else:
        specs = [get(props, *POD_SPEC_PATHS[resource_type])]
    return [spec for spec in specs if isinstance(spec, dict)]


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


PodCheck = Callable[[dict[str, Any]], Iterable[str]]


def pod_security_rule(
    name: str, description: str, severity: Severity, remediation: str, control: Control
) -> Callable[[PodCheck], ResourceValidationPolicy]:
    """Decorator: `check(pod_spec)` yields problems of every workload kind, except allowlisted workloads."""

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
        )
        def validate(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
            key = workload_key(props, args)
            specs = pod_specs(args.resource_type, props)
            if allowlisted(args.get_config(), key) or reviewed_daemon(key, name, specs):
                return
            for spec in specs:
                for problem in check(without_reviewed_sidecars(spec, name)):
                    yield f"{key}: {problem}"

        return validate

    return build


@pod_security_rule(
    "k8s-no-privileged",
    "Containers do not run privileged, unless the workload is on the reviewed allowlist.",
    Severity.CRITICAL,
    "Remove securityContext.privileged; grant the specific capability or device instead, or add the workload "
    "with its reason to the policy's allowlist after review.",
    _cis("5.2.2", "Minimize the admission of privileged containers", "CKV_K8S_16"),
)
def no_privileged(spec: dict[str, Any]) -> Iterator[str]:
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
        "Minimize the admission of containers wishing to share the host process ID, IPC or network namespace",
        "CKV_K8S_17",
        "CKV_K8S_18",
        "CKV_K8S_19",
    ),
)
def no_host_namespaces(spec: dict[str, Any]) -> Iterator[str]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if is_true(spec.get(field)):
            yield f"the pod sets {field}"


@pod_security_rule(
    "k8s-no-privilege-escalation",
    "Containers set allowPrivilegeEscalation false (Pod Security Standard 'restricted').",
    Severity.HIGH,
    "Set securityContext.allowPrivilegeEscalation=false on every container.",
    _cis("5.2.6", "Minimize the admission of containers with allowPrivilegeEscalation", "CKV_K8S_20"),
)
def no_privilege_escalation(spec: dict[str, Any]) -> Iterator[str]:
    for container in containers(spec):
        escalation = get(container, "securityContext", "allowPrivilegeEscalation")
        if escalation is not UNKNOWN and not is_false(escalation):
            yield f"container {container.get('name')} may escalate privileges (allowPrivilegeEscalation not false)"


RESTRICTED_ADDABLE = ("NET_BIND_SERVICE",)


@pod_security_rule(
    "k8s-no-added-capabilities",
    "Containers add no Linux capabilities beyond NET_BIND_SERVICE (and IPC_LOCK with an RDMA device), unless reviewed.",
    Severity.HIGH,
    "Remove securityContext.capabilities.add (drop ALL instead), or add the workload (e.g. an RDMA job that "
    "needs IPC_LOCK) with its reason to the policy's allowlist after review.",
    _cis("5.2.9", "Minimize the admission of containers with added capabilities", "CKV_K8S_25"),
)
def no_added_capabilities(spec: dict[str, Any]) -> Iterator[str]:
    for container in containers(spec):
        allowed: set[str] = set(RESTRICTED_ADDABLE)
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
    "k8s-run-as-non-root",
    "Containers run as a non-root user (runAsNonRoot, or a non-zero runAsUser).",
    Severity.HIGH,
    "Set securityContext.runAsNonRoot=true (pod level) and build images with a non-root USER.",
    _cis("5.2.7", "Minimize the admission of root containers", "CKV_K8S_23"),
)
def run_as_non_root(spec: dict[str, Any]) -> Iterator[str]:
    for container in containers(spec):
        non_root = _container_setting(spec, container, "runAsNonRoot")
        user = _container_setting(spec, container, "runAsUser")
        if UNKNOWN in (non_root, user) or is_true(non_root) or (number(user) or 0) > 0:
            continue
        yield f"container {container.get('name')} may run as root"


SECCOMP_CONFINED = ("RuntimeDefault", "Localhost")


@pod_security_rule(
    "k8s-seccomp-runtime-default",
    "Containers run under the RuntimeDefault (or a Localhost) seccomp profile.",
    Severity.MEDIUM,
    "Set securityContext.seccompProfile.type=RuntimeDefault at pod level.",
    _cis("5.7.2", "Ensure that the seccomp profile is set to docker/default in your pod definitions", "CKV_K8S_31"),
)
def seccomp_runtime_default(spec: dict[str, Any]) -> Iterator[str]:
    for container in containers(spec):
        profile = _container_setting(spec, container, "seccompProfile", "type")
        if profile not in (*SECCOMP_CONFINED, UNKNOWN):
            yield f"container {container.get('name')} runs with seccomp profile {profile or 'Unconfined (unset)'}"


@resource_rule(
    name="k8s-resource-limits",
    description="Every container sets CPU and memory limits, so one job cannot starve a node.",
    types=WORKLOADS,
    severity=Severity.MEDIUM,
    remediation="Set resources.limits.cpu and resources.limits.memory on every container (and init container).",
    control=checkov_control("CKV_K8S_11", "CPU limits should be set"),
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
    run_as_non_root,
    seccomp_runtime_default,
    resource_limits,
    gpu_pods_request_gpus,
    image_pinned,
    no_public_loadbalancer,
    no_cluster_admin_binding,
    privileged_namespace_admission,
]
