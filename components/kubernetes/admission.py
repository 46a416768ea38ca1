"""Fabric pod admission: Pod Security `restricted` plus exactly what a cluster's fabrics need, as a
ValidatingAdmissionPolicy the platform layer installs.

TCPXO, GKE RDMA and InfiniBand / RoCE training pods need what Pod Security Admission's `restricted` (and
`baseline`) refuse: hostPath volumes, `IPC_LOCK`, and the root `tcpxo-daemon` sidecar with NET_ADMIN. PSA has
no per-pod exceptions, so a team namespace on such a cluster runs PSA at `enforce: privileged` (`warn` and
`audit` stay `restricted`) and carries the label `aiinfra.dev/pod-security-exceptions: fabric`; the binding of
this policy selects those namespaces and denies every Pod (and ephemeral container) that breaks `restricted`
in any way other than the fabric's own wiring:

- a hostPath volume only with a path of the fabric's volumes, and mounted only by the container the fabric
  mounts it in (the workload container, or the reviewed sidecar for its own mounts);
- added capabilities beyond `NET_BIND_SERVICE` only the fabric's (`IPC_LOCK`), and only for regular containers;
- root and the sidecar's capabilities only for a container that is exactly the wiring's sidecar: the reviewed
  name *and* image (`aiinfra.core.exceptions.REVIEWED_SIDECARS`), the wiring's command, args, env and host
  mounts, no probes, hooks or envFrom (any of which would run other code as root), among the init containers;
- host-access annotations (the NRI device injector's `devices.gke.io/...`) only with the fabric's exact value;
- each of these only for a pod whose nodeSelector puts it on a pool of that fabric (`aiinfra.dev/pool`).

Everything else of `restricted` holds for every pod, serving included: no privileged container, no host
namespaces or ports, allowPrivilegeEscalation false, capabilities drop ALL, non-root, seccomp RuntimeDefault or
Localhost, restricted's volume types, safe sysctls, no SELinux/AppArmor/procMount/hostProcess loosening.

The exceptions are derived from `components.kubernetes.fabric.pod_wiring`, never listed a second time here.
Pods are enough: every controller (JobSet, Job, Deployment) creates Pods, and a denied Pod shows on its
controller's events. The expressions keep to the CEL every Kubernetes 1.30+ API server has (has(), all(),
exists(), in, size(), startsWith()) and use typed fields only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiinfra.core.pod_security import (
    APPARMOR_TYPES,
    RESTRICTED_CAPABILITIES,
    RESTRICTED_VOLUMES,
    SAFE_SYSCTLS,
    SECCOMP_TYPES,
    SELINUX_TYPES,
)
from components.contracts import NodePoolArgs
from components.kubernetes.fabric import pod_wiring
from components.kubernetes.meta import POOL_LABEL

API_VERSION = "admissionregistration.k8s.io/v1"
MIN_KUBERNETES = (1, 30)
"""ValidatingAdmissionPolicy is GA (admissionregistration.k8s.io/v1) from Kubernetes 1.30 on."""
POLICY_NAME = "aiinfra-fabric-pod-security"
EXCEPTIONS_LABEL = "aiinfra.dev/pod-security-exceptions"
EXCEPTIONS_VALUE = "fabric"
"""A namespace labelled `aiinfra.dev/pod-security-exceptions: fabric` is admitted by the policy, not by PSA."""

HOST_ACCESS_ANNOTATIONS = ("devices.gke.io/",)
"""Pod annotation prefixes that reach the host: GKE's NRI device injector adds the listed device nodes to the
named container."""
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


@dataclass(frozen=True)
class SidecarException:
    """A fabric sidecar as the fabric's wiring adds it: what it may do that `restricted` refuses."""

    name: str
    image: str
    container_list: str
    """Where the wiring puts it (`initContainers` for a native sidecar)."""
    capabilities: tuple[str, ...]
    host_paths: tuple[str, ...]
    """hostPath paths it mounts."""
    root: bool
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    mounts: tuple[tuple[str, str], ...]
    """(mountPath, hostPath path) of each of its mounts."""

    def variable(self, fabric: FabricException) -> str:
        """Name of the policy variable that is true when the pod's container of this name is exactly this
        sidecar, on one of the fabric's pools."""
        return f"{self.name.replace('-', '_')}_{fabric.variable}"


@dataclass(frozen=True)
class FabricException:
    """What pods on the pools of one fabric may do beyond `restricted`, from its `pod_wiring`."""

    fabric: str
    host_paths: tuple[str, ...]
    """hostPath paths of the fabric's pod volumes."""
    workload_host_paths: tuple[str, ...]
    """Those the workload container mounts."""
    capabilities: tuple[str, ...]
    """Capabilities the workload container adds."""
    sidecars: tuple[SidecarException, ...]
    annotations: tuple[tuple[str, str], ...]
    """Host-access annotations (key, exact value)."""
    pools: tuple[str, ...] = ()
    """The cluster's pools of this fabric: the exception holds only for pods selecting one of them."""

    @property
    def variable(self) -> str:
        """Name of the policy variable that is true for a pod on one of `pools`."""
        return f"on_{self.fabric.replace('-', '_')}"


def _host_paths(volumes: Iterable[dict[str, Any]], mounts: Iterable[dict[str, Any]]) -> tuple[str, ...]:
    paths = {v["name"]: v["hostPath"]["path"] for v in volumes if "hostPath" in v}
    return tuple(sorted({paths[m["name"]] for m in mounts if m["name"] in paths}))


def fabric_exception(pool: NodePoolArgs) -> FabricException | None:
    """What the fabric wiring of pods on `pool` needs beyond `restricted`; None when nothing."""
    wiring = pod_wiring(pool.shape)
    sidecars = tuple(
        SidecarException(
            name=c["name"],
            image=c["image"],
            container_list="initContainers",
            capabilities=tuple(c.get("securityContext", {}).get("capabilities", {}).get("add", ())),
            host_paths=_host_paths(wiring.volumes, c.get("volumeMounts", ())),
            root=c.get("securityContext", {}).get("runAsUser") == 0,
            command=tuple(c.get("command", ())),
            args=tuple(c.get("args", ())),
            env=tuple((e["name"], e["value"]) for e in c.get("env", ())),
            mounts=tuple(
                (m["mountPath"], v["hostPath"]["path"])
                for m in c.get("volumeMounts", ())
                for v in wiring.volumes
                if v["name"] == m["name"] and "hostPath" in v
            ),
        )
        for c in wiring.init_containers
    )
    host_paths = tuple(sorted(v["hostPath"]["path"] for v in wiring.volumes if "hostPath" in v))
    extra_capabilities = tuple(c for c in wiring.capabilities if c not in RESTRICTED_CAPABILITIES)
    annotations = tuple(sorted((k, v) for k, v in wiring.annotations.items() if k.startswith(HOST_ACCESS_ANNOTATIONS)))
    if not (host_paths or extra_capabilities or sidecars or annotations):
        return None
    return FabricException(
        fabric=str(pool.shape.fabric),
        host_paths=host_paths,
        workload_host_paths=_host_paths(wiring.volumes, wiring.mounts),
        capabilities=extra_capabilities,
        sidecars=sidecars,
        annotations=annotations,
        pools=(pool.name,),
    )


def fabric_exceptions(pools: Iterable[NodePoolArgs]) -> tuple[FabricException, ...]:
    """The cluster's fabric exceptions, one per distinct need, each with the pools that have it."""
    found: dict[FabricException, list[str]] = {}
    for pool in pools:
        exception = fabric_exception(pool)
        if exception is not None:
            found.setdefault(_without_pools(exception), []).append(pool.name)
    merged = [_with_pools(e, pools) for e, pools in found.items()]
    variables = [e.variable for e in merged]
    if len(set(variables)) < len(variables):  # one fabric with two needs on one cluster: number them
        merged = [_with_fabric(e, f"{e.fabric}_{i}") for i, e in enumerate(merged)]
    return tuple(merged)


def _without_pools(e: FabricException) -> FabricException:
    return _with_pools(e, ())


def _with_pools(e: FabricException, pools: Iterable[str]) -> FabricException:
    return FabricException(
        e.fabric, e.host_paths, e.workload_host_paths, e.capabilities, e.sidecars, e.annotations, tuple(pools)
    )


def _with_fabric(e: FabricException, fabric: str) -> FabricException:
    return FabricException(
        fabric, e.host_paths, e.workload_host_paths, e.capabilities, e.sidecars, e.annotations, e.pools
    )


def supports_admission_policies(kubernetes_version: str) -> bool:
    major, minor = (int(part) for part in kubernetes_version.split(".")[:2])
    return (major, minor) >= MIN_KUBERNETES


# ---------------------------------------------------------------------------------------------- CEL


def _lit(value: str) -> str:
    return json.dumps(value)


def _list(values: Iterable[str]) -> str:
    return "[" + ", ".join(_lit(v) for v in values) + "]"


def _any(terms: Iterable[str]) -> str:
    terms = list(terms)
    return "(" + " || ".join(terms) + ")" if terms else "false"


POD_SC = "object.spec.securityContext"


def _set(base: str, *path: str) -> str:
    """`has()` down a path of optional fields: `has(a.b) && has(a.b.c)`."""
    checks, current = [], base
    for part in path:
        current = f"{current}.{part}"
        checks.append(f"has({current})")
    return " && ".join(checks)


def _pod_set(*path: str) -> str:
    return f"has({POD_SC}) && " + _set(POD_SC, *path)


def _is_true(base: str, *path: str) -> str:
    return f"({_set(base, *path)} && {base}.{'.'.join(path)})"


def _each(container_list: str, body: str) -> str:
    return f"(!has(object.spec.{container_list}) || object.spec.{container_list}.all(c, {body}))"


def _sidecar_terms(exceptions: Iterable[FabricException], container_list: str, term) -> list[str]:
    """`term(sidecar)` for the container that is exactly a reviewed sidecar (names are unique in a pod)."""
    return [
        f"(variables.{s.variable(e)} && c.name == {_lit(s.name)} && {term(s)})"
        for e in exceptions
        for s in e.sidecars
        if s.container_list == container_list
    ]


def _exactly(s: SidecarException) -> str:
    """The container `c` is the wiring's sidecar: its image, command, args and env, its mounts of exactly its
    host paths at its mount paths, and nothing that runs other code in it (probes, hooks, envFrom, workingDir).
    A root container of the reviewed image but another command would run anything as root."""
    env = " || ".join(f"(e.name == {_lit(n)} && has(e.value) && e.value == {_lit(v)})" for n, v in s.env)
    mounts = " || ".join(f"(m.mountPath == {_lit(mp)} && v.hostPath.path == {_lit(hp)})" for mp, hp in s.mounts)
    return " && ".join(
        [
            f"c.image == {_lit(s.image)}",
            f"has(c.command) && c.command == {_list(s.command)}" if s.command else "!has(c.command)",
            f"has(c.args) && c.args == {_list(s.args)}" if s.args else "!has(c.args)",
            f"has(c.env) && size(c.env) == {len(s.env)} && c.env.all(e, {env})" if s.env else "!has(c.env)",
            *(f"!has(c.{f})" for f in ("envFrom", "lifecycle", "livenessProbe", "readinessProbe", "startupProbe")),
            "!has(c.workingDir)",
            f"has(c.volumeMounts) && has(object.spec.volumes) && size(c.volumeMounts) == {len(s.mounts)} && "
            "c.volumeMounts.all(m, !has(m.subPath) && !has(m.subPathExpr) && object.spec.volumes.exists(v, "
            f"v.name == m.name && has(v.hostPath) && ({mounts})))"
            if s.mounts
            else "!has(c.volumeMounts)",
        ]
    )


def _validation(expression: str, message: str) -> dict[str, str]:
    return {"expression": expression, "message": message, "reason": "Forbidden"}


def policy_variables(exceptions: Iterable[FabricException]) -> list[dict[str, str]]:
    """Per fabric: whether the pod is on one of its pools; per sidecar: whether the pod's container of that name
    is exactly the sidecar, on those pools."""
    selector = "object.spec.nodeSelector"
    variables = []
    for e in exceptions:
        variables.append(
            {
                "name": e.variable,
                "expression": f"has({selector}) && {_lit(POOL_LABEL)} in {selector} && "
                f"{selector}[{_lit(POOL_LABEL)}] in {_list(e.pools)}",
            }
        )
        variables += [
            {
                "name": s.variable(e),
                "expression": f"variables.{e.variable} && has(object.spec.{s.container_list}) && "
                f"object.spec.{s.container_list}.exists(c, c.name == {_lit(s.name)}) && "
                f"object.spec.{s.container_list}.all(c, c.name != {_lit(s.name)} || ({_exactly(s)}))",
            }
            for s in e.sidecars
        ]
    return variables


def policy_validations(exceptions: tuple[FabricException, ...]) -> list[dict[str, str]]:
    """CEL validations: `restricted`, less exactly the fabrics' exceptions."""
    sc = "c.securityContext"

    def per_container(check) -> str:
        return " && ".join(_each(lst, check(lst)) for lst in CONTAINER_LISTS)

    def capabilities(lst: str) -> str:
        allowed = [f"a in {_list(RESTRICTED_CAPABILITIES)}"]
        allowed += _sidecar_terms(exceptions, lst, lambda s: f"a in {_list(s.capabilities)}")
        if lst == "containers":
            allowed += [
                f"(variables.{e.variable} && a in {_list(e.capabilities)})" for e in exceptions if e.capabilities
            ]
        return (
            f"{_set('c', 'securityContext', 'capabilities', 'drop')} && 'ALL' in {sc}.capabilities.drop && "
            f"(!has({sc}.capabilities.add) || "
            f"{sc}.capabilities.add.all(a, {' || '.join(allowed)}))"
        )

    def non_root(lst: str) -> str:
        pod = f"({_pod_set('runAsNonRoot')} && {POD_SC}.runAsNonRoot)"
        own = f"({_set('c', 'securityContext', 'runAsNonRoot')} ? {sc}.runAsNonRoot : {pod})"
        rule = f"({own} && !({_set('c', 'securityContext', 'runAsUser')} && {sc}.runAsUser == 0))"
        sidecar = _sidecar_terms(exceptions, lst, lambda s: "true" if s.root else "false")
        return _any([*sidecar, rule])

    def seccomp(_: str) -> str:
        return (
            f"({_set('c', 'securityContext', 'seccompProfile')} ? {sc}.seccompProfile.type in {_list(SECCOMP_TYPES)} "
            f": ({_pod_set('seccompProfile')}))"
        )

    def host_path_mounts(lst: str) -> str:
        allowed = _sidecar_terms(exceptions, lst, lambda s: f"v.hostPath.path in {_list(s.host_paths)}")
        if lst == "containers":
            allowed += [
                f"(variables.{e.variable} && v.hostPath.path in {_list(e.workload_host_paths)})"
                for e in exceptions
                if e.workload_host_paths
            ]
        return (
            "(!has(c.volumeMounts) || !has(object.spec.volumes) || c.volumeMounts.all(m, "
            f"!object.spec.volumes.exists(v, v.name == m.name && has(v.hostPath) && !{_any(allowed)})))"
        )

    def loosening(base: str) -> str:
        """SELinux, AppArmor and Windows settings `restricted` refuses, on a securityContext."""
        return (
            f"!({_set(base, 'seLinuxOptions', 'type')} && !({base}.seLinuxOptions.type in {_list(SELINUX_TYPES)})) && "
            f"!({_set(base, 'seLinuxOptions', 'user')}) && !({_set(base, 'seLinuxOptions', 'role')}) && "
            f"!({_set(base, 'appArmorProfile')} && !({base}.appArmorProfile.type in {_list(APPARMOR_TYPES)})) && "
            f"!{_is_true(base, 'windowsOptions', 'hostProcess')}"
        )

    volume_types = [f"has(v.{kind})" for kind in RESTRICTED_VOLUMES]
    volume_types += [
        f"(variables.{e.variable} && v.hostPath.path in {_list(e.host_paths)})" for e in exceptions if e.host_paths
    ]
    annotation_terms = [
        f"(variables.{e.variable} && k == {_lit(key)} && object.metadata.annotations[k] == {_lit(value)})"
        for e in exceptions
        for key, value in e.annotations
    ]
    host_annotation = " || ".join(f"k.startsWith({_lit(p)})" for p in HOST_ACCESS_ANNOTATIONS)
    apparmor_annotation = "container.apparmor.security.beta.kubernetes.io/"
    return [
        _validation(
            f"!{_is_true('object', 'spec', 'hostNetwork')} && !{_is_true('object', 'spec', 'hostPID')} && "
            f"!{_is_true('object', 'spec', 'hostIPC')}",
            "hostNetwork, hostPID and hostIPC are not allowed",
        ),
        _validation(
            per_container(lambda _: f"!{_is_true('c', 'securityContext', 'privileged')}"),
            "privileged containers are not allowed",
        ),
        _validation(
            per_container(
                lambda _: (
                    f"{_set('c', 'securityContext', 'allowPrivilegeEscalation')} && !{sc}.allowPrivilegeEscalation"
                )
            ),
            "every container must set securityContext.allowPrivilegeEscalation: false",
        ),
        _validation(
            per_container(capabilities),
            "every container must drop ALL capabilities and add back only NET_BIND_SERVICE (and the fabric's own, "
            "on the fabric's pools)",
        ),
        _validation(
            f"!({_pod_set('runAsNonRoot')} && !{POD_SC}.runAsNonRoot) && "
            f"!({_pod_set('runAsUser')} && {POD_SC}.runAsUser == 0) && " + per_container(non_root),
            "containers must run as non-root (runAsNonRoot: true, runAsUser not 0), but for the fabric's reviewed "
            "sidecar image",
        ),
        _validation(
            f"(!({_pod_set('seccompProfile')}) || {POD_SC}.seccompProfile.type in {_list(SECCOMP_TYPES)}) && "
            + per_container(seccomp),
            "seccompProfile.type must be RuntimeDefault or Localhost, on the pod or on every container",
        ),
        _validation(
            f"!has(object.spec.volumes) || object.spec.volumes.all(v, {' || '.join(volume_types)})",
            f"volumes must be one of {', '.join(RESTRICTED_VOLUMES)} (or the fabric's own hostPath volumes, on the "
            "fabric's pools)",
        ),
        _validation(
            per_container(host_path_mounts),
            "a hostPath volume may only be mounted by the container the fabric mounts it in",
        ),
        _validation(
            per_container(lambda _: "!has(c.ports) || c.ports.all(p, !has(p.hostPort) || p.hostPort == 0)"),
            "hostPort is not allowed",
        ),
        _validation(
            f"!({_pod_set('sysctls')}) || {POD_SC}.sysctls.all(s, s.name in {_list(SAFE_SYSCTLS)})",
            "only safe sysctls are allowed",
        ),
        _validation(
            f"(!has({POD_SC}) || ({loosening(POD_SC)})) && "
            + per_container(
                lambda _: (
                    f"(!has({sc}) || ({loosening(sc)} && !({_set(sc, 'procMount')} && {sc}.procMount != 'Default')))"
                )
            ),
            "SELinux, AppArmor, procMount and Windows hostProcess settings must stay at restricted's",
        ),
        _validation(
            "!has(object.metadata.annotations) || object.metadata.annotations.all(k, "
            f"(!k.startsWith({_lit(apparmor_annotation)}) || object.metadata.annotations[k] == 'runtime/default' || "
            "object.metadata.annotations[k].startsWith('localhost/')) && "
            f"(!({host_annotation}) || {_any(annotation_terms)}))",
            "AppArmor must not be unconfined, and host device annotations are only the fabric's own",
        ),
    ]


def admission_policy_spec(exceptions: tuple[FabricException, ...]) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy's spec: every Pod create/update and ephemeral container."""
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["pods", "pods/ephemeralcontainers"],
                }
            ]
        },
        "variables": policy_variables(exceptions),
        "validations": policy_validations(exceptions),
    }


def admission_binding_spec() -> dict[str, Any]:
    """The binding: deny in every namespace labelled for fabric exceptions."""
    return {
        "policyName": POLICY_NAME,
        "validationActions": ["Deny"],
        "matchResources": {"namespaceSelector": {"matchLabels": {EXCEPTIONS_LABEL: EXCEPTIONS_VALUE}}},
    }
