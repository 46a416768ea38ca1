"""docs/policy-coverage.md, generated from the pack's own metadata: each rule's controls (`RULE_CONTROLS`), the
catalogues of policies/rules/standards.py, the reviewed exceptions of aiinfra.core.exceptions, and the enforcement
each environment's config gives each rule, reconciled as the engine does. tests/policy/test_coverage.py fails when
the committed page differs from what this renders, so the page cannot drift from the rules.

Regenerate: `.venv/bin/python -m tests.policy.coverage` (writes docs/policy-coverage.md).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pulumi.runtime.proto import analyzer_pb2

from aiinfra.core.exceptions import REVIEWED_HOST_PATHS, REVIEWED_SIDECARS, REVIEWED_WORKLOADS
from aiinfra.policy.analyzer import PolicyAnalyzer, StackContext
from aiinfra.policy.config import PolicySetting, load_settings, reconcile

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "policies"
DOC = REPO / "docs" / "policy-coverage.md"
ENVIRONMENTS = ("default", "dev", "prod")
"""`default`: a stack without a config file (the pack's own levels, e.g. `hybrid`); then policies/config/<env>.json."""


@dataclass(frozen=True)
class Check:
    """A check of another tool, and what the pack has for it."""

    id: str
    title: str
    pss: str = ""
    """The Pod Security Standards control (level/slug) it implements, when it is one."""
    rules: tuple[str, ...] = ()
    """The pack's rules for it, when they name it by neither a checkov id nor a PSS control."""
    lacks: str = ""
    """What it checks that the pack does not, when the pack has no rule (or only part of one) for it."""
    moot: str = ""
    """Why it does not apply to what the pack sees (a removed API, a retired tool)."""


CHECKOV_SOURCE = "bridgecrewio/checkov `checkov/kubernetes/checks/resource/k8s/` (commit 03d5fdad, 2026-08-20)"
PSP = "checks a PodSecurityPolicy object; PodSecurityPolicy was removed in Kubernetes 1.25 (see the pod-level check)"
TILLER = "Tiller (Helm 2) reached end of life in 2020; aiinfra installs charts with Helm 3"
CHECKOV: tuple[Check, ...] = (
    *(
        Check(f"CKV_K8S_{n}", title, moot=PSP)
        for n, title in (
            (1, "Do not admit containers wishing to share the host process ID namespace"),
            (2, "Do not admit privileged containers"),
            (3, "Do not admit containers wishing to share the host IPC namespace"),
            (4, "Do not admit containers wishing to share the host network namespace"),
            (5, "Containers should not run with allowPrivilegeEscalation"),
            (6, "Do not admit root containers"),
            (7, "Do not admit containers with the NET_RAW capability"),
        )
    ),
    Check("CKV_K8S_8", "Liveness Probe Should be Configured", lacks="a liveness probe on every container"),
    Check("CKV_K8S_9", "Readiness Probe Should be Configured", lacks="a readiness probe on every container"),
    Check(
        "CKV_K8S_10",
        "CPU requests should be set",
        lacks="CPU requests (the pack requires limits; requests default to them)",
    ),
    Check("CKV_K8S_11", "CPU limits should be set"),
    Check("CKV_K8S_12", "Memory requests should be set", lacks="memory requests (requests default to the limits)"),
    Check("CKV_K8S_13", "Memory limits should be set"),
    Check("CKV_K8S_14", "Image Tag should be fixed - not latest or blank"),
    Check(
        "CKV_K8S_15",
        "Image Pull Policy should be Always",
        lacks="imagePullPolicy Always (moot once images are pinned by digest)",
    ),
    Check("CKV_K8S_16", "Container should not be privileged"),
    Check("CKV_K8S_17", "Containers should not share the host process ID namespace"),
    Check("CKV_K8S_18", "Containers should not share the host IPC namespace"),
    Check("CKV_K8S_19", "Containers should not share the host network namespace"),
    Check("CKV_K8S_20", "Containers should not run with allowPrivilegeEscalation"),
    Check("CKV_K8S_21", "The default namespace should not be used"),
    Check(
        "CKV_K8S_22",
        "Use read-only filesystem for containers where possible",
        lacks="readOnlyRootFilesystem (the serving pod sets it; training writes to its image's paths)",
    ),
    Check("CKV_K8S_23", "Minimize the admission of root containers"),
    Check("CKV_K8S_24", "Do not allow containers with added capability", moot=PSP),
    Check("CKV_K8S_25", "Minimize the admission of containers with added capability"),
    Check("CKV_K8S_26", "Do not specify hostPort unless absolutely necessary"),
    Check("CKV_K8S_27", "Do not expose the docker daemon socket to containers"),
    Check("CKV_K8S_28", "Minimize the admission of containers with the NET_RAW capability"),
    Check(
        "CKV_K8S_29",
        "Apply security context to your pods and containers",
        rules=("k8s-run-as-non-root", "k8s-seccomp-runtime-default"),
    ),
    Check(
        "CKV_K8S_30",
        "Apply security context to your containers",
        rules=("k8s-no-privilege-escalation", "k8s-drop-all-capabilities"),
    ),
    Check("CKV_K8S_31", "Ensure that the seccomp profile is set to docker/default or runtime/default"),
    Check("CKV_K8S_32", "Ensure default seccomp profile set to docker/default or runtime/default", moot=PSP),
    Check(
        "CKV_K8S_33",
        "Ensure the Kubernetes dashboard is not deployed",
        lacks="no Kubernetes dashboard image in any workload",
    ),
    Check("CKV_K8S_34", "Ensure that Tiller (Helm v2) is not deployed", moot=TILLER),
    Check("CKV_K8S_35", "Prefer using secrets as files over secrets as environment variables"),
    Check("CKV_K8S_36", "Minimize the admission of containers with capabilities assigned", moot=PSP),
    Check("CKV_K8S_37", "Minimize the admission of containers with capabilities assigned"),
    Check(
        "CKV_K8S_38",
        "Ensure that Service Account Tokens are only mounted where necessary",
        lacks="automountServiceAccountToken false where a pod does not call the API (the serving pod sets it)",
    ),
    Check("CKV_K8S_39", "Do not use the CAP_SYS_ADMIN linux capability"),
    Check("CKV_K8S_40", "Containers should run as a high UID to avoid host conflict", lacks="runAsUser above 10000"),
    Check(
        "CKV_K8S_41",
        "Ensure that default service accounts are not actively used",
        lacks="pods on a named service account (ours use `workload` or their own)",
    ),
    Check(
        "CKV_K8S_42",
        "Ensure that default service accounts are not actively used",
        lacks="no binding to a `default` service account",
    ),
    Check("CKV_K8S_43", "Image should use digest"),
    Check("CKV_K8S_44", "Ensure that the Tiller Service (Helm v2) is deleted", moot=TILLER),
    Check(
        "CKV_K8S_45", "Ensure the Tiller Deployment (Helm V2) is not accessible from within the cluster", moot=TILLER
    ),
    Check("CKV_K8S_49", "Minimize wildcard use in Roles and ClusterRoles"),
    Check(
        "CKV_K8S_152-154",
        "NGINX Ingress annotation snippets (CVE-2021-25742)",
        lacks="ingress-nginx snippet annotations (aiinfra creates no Ingress)",
    ),
    Check(
        "CKV_K8S_155",
        "Minimize ClusterRoles that grant control over validating or mutating admission webhook configurations",
        lacks="RBAC on admission webhook configurations",
    ),
    Check(
        "CKV_K8S_156",
        "Minimize ClusterRoles that grant permissions to approve CertificateSigningRequests",
        lacks="RBAC on CSR approval",
    ),
    Check(
        "CKV_K8S_157",
        "Minimize Roles and ClusterRoles that grant permissions to bind RoleBindings or ClusterRoleBindings",
        lacks="the `bind` verb",
    ),
    Check(
        "CKV_K8S_158",
        "Minimize Roles and ClusterRoles that grant permissions to escalate Roles or ClusterRoles",
        lacks="the `escalate` verb",
    ),
    Check("CKV_K8S_159", "Limit the use of git-sync to prevent code injection", lacks="git-sync images"),
)
"""checkov's Kubernetes manifest checks (the API server, kubelet and etcd flag checks CKV_K8S_68-151 are left out:
EKS, GKE and AKS manage those flags, and the managed benchmarks' node sections below list them)."""

KYVERNO_SOURCE = "kyverno/policies `pod-security/` and `best-practices/` (commit b9c4317c, 2026-03-06)"
KYVERNO: tuple[Check, ...] = (
    Check("disallow-host-process", "Disallow hostProcess", pss="baseline/host-process"),
    Check("disallow-host-namespaces", "Disallow Host Namespaces", pss="baseline/host-namespaces"),
    Check("disallow-privileged-containers", "Disallow Privileged Containers", pss="baseline/privileged-containers"),
    Check("disallow-capabilities", "Disallow Capabilities", pss="baseline/capabilities"),
    Check("disallow-host-path", "Disallow hostPath", pss="baseline/hostpath-volumes"),
    Check("disallow-host-ports", "Disallow hostPorts", pss="baseline/host-ports"),
    Check("disallow-host-ports-range", "Disallow hostPorts Range (Alternate)", pss="baseline/host-ports"),
    Check("restrict-apparmor-profiles", "Restrict AppArmor (the beta annotation only)", pss="baseline/apparmor"),
    Check("disallow-selinux", "Disallow SELinux (without container_engine_t)", pss="baseline/selinux"),
    Check("disallow-proc-mount", "Disallow procMount", pss="baseline/proc-mount-type"),
    Check("restrict-seccomp", "Restrict Seccomp", pss="baseline/seccomp"),
    Check("restrict-sysctls", "Restrict sysctls", pss="baseline/sysctls"),
    Check("restrict-volume-types", "Restrict Volume Types", pss="restricted/volume-types"),
    Check("disallow-privilege-escalation", "Disallow Privilege Escalation", pss="restricted/privilege-escalation"),
    Check("require-run-as-nonroot", "Require runAsNonRoot", pss="restricted/running-as-non-root"),
    Check("require-run-as-non-root-user", "Require Run As Non-Root User", pss="restricted/running-as-non-root-user"),
    Check("restrict-seccomp-strict", "Restrict Seccomp (Strict)", pss="restricted/seccomp"),
    Check("disallow-capabilities-strict", "Disallow Capabilities (Strict)", pss="restricted/capabilities"),
    Check("best-practices/disallow-latest-tag", "Disallow Latest Tag", rules=("k8s-image-pinned",)),
    Check("best-practices/require-drop-all", "Drop All Capabilities", rules=("k8s-drop-all-capabilities",)),
    Check("best-practices/require-drop-cap-net-raw", "Drop CAP_NET_RAW", rules=("k8s-drop-all-capabilities",)),
    Check(
        "best-practices/require-pod-requests-limits",
        "Require Limits and Requests",
        rules=("k8s-resource-limits",),
        lacks="requests (the pack requires limits only)",
    ),
    Check(
        "best-practices/disallow-default-namespace", "Disallow Default Namespace", rules=("k8s-no-default-namespace",)
    ),
    Check("best-practices/disallow-cri-sock-mount", "Disallow CRI socket mounts", rules=("k8s-no-host-path",)),
    Check("best-practices/require-probes", "Require Pod Probes", lacks="liveness/readiness probes"),
    Check("best-practices/require-ro-rootfs", "Require Read-Only Root Filesystem", lacks="readOnlyRootFilesystem"),
    Check(
        "best-practices/restrict-image-registries",
        "Restrict Image Registries",
        lacks="an allowlist of image registries",
    ),
    Check("best-practices/restrict-node-port", "Disallow NodePort", lacks="NodePort Services"),
    Check(
        "best-practices/restrict-service-external-ips",
        "Restrict External IPs",
        lacks="Service externalIPs (CVE-2020-8554)",
    ),
    Check(
        "best-practices/require-labels",
        "Require Labels",
        rules=("required-tags",),
        lacks="Kubernetes labels (the pack requires the stack's tags on cloud resources)",
    ),
)
"""Kyverno's Pod Security Standards policies (each implements one PSS control) and its pod best practices."""


@contextmanager
def pack_modules() -> Iterator[tuple[ModuleType, ModuleType, ModuleType]]:
    """The pack's definition, its rules' shared metadata and its catalogues, imported as the engine runs them."""
    sys.path.insert(0, str(PACK))
    try:
        yield (
            importlib.import_module("pack"),
            importlib.import_module("rules.common"),
            importlib.import_module("rules.standards"),
        )
    finally:
        sys.path.remove(str(PACK))


def enforcement(info: analyzer_pb2.AnalyzerInfo) -> dict[str, dict[str, str]]:
    """Environment → rule → its enforcement level, reconciled from the environment's config as the engine does."""
    given: dict[str, Mapping[str, PolicySetting]] = {"default": {}}
    for env in ENVIRONMENTS[1:]:
        given[env] = load_settings(PACK / "config" / f"{env}.json")
    return {
        env: {name: str(s.enforcement_level) for name, s in reconcile(info, settings, env).items()}
        for env, settings in given.items()
    }


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]


def render(info: analyzer_pb2.AnalyzerInfo) -> str:
    levels = enforcement(info)
    with pack_modules() as (pack, common, standards):
        policies = {p.name: p for p in pack.PACK["policies"]}
        controls: dict[str, tuple[Any, ...]] = {name: common.RULE_CONTROLS[name] for name in policies}
        pss_controls, benchmarks, pss = standards.PSS_CONTROLS, standards.BENCHMARKS, standards.PSS

    def levels_of(rule: str) -> list[str]:
        return [levels[env][rule] for env in ENVIRONMENTS]

    def rules_of(match: Callable[[Any], bool]) -> list[str]:
        return [name for name, cs in controls.items() if any(match(c) for c in cs)]

    def checkov_rules(check_id: str) -> list[str]:
        return rules_of(lambda c: check_id in c.checkov)

    out = [
        "# Policy coverage",
        "",
        "<!-- Generated by tests/policy/coverage.py from the rules' metadata; do not edit. Regenerate with "
        "`.venv/bin/python -m tests.policy.coverage`. -->",
        "",
        f"Which published control each of the pack's {len(policies)} rules implements, and how each environment "
        "enforces it. Columns `default` (a stack without a config file, e.g. `hybrid`: every rule at its own "
        "level), `dev` and `prod` (`policies/config/<env>.json`, reconciled as `pulumi preview --policy-pack-config` "
        "does). A stack's waivers (`aiinfra-waivers`) can still excuse single findings until they expire.",
        "",
        f"## {pss[0]} ({pss[1]})",
        "",
        "Source: https://kubernetes.io/docs/concepts/security/pod-security-standards/. Every rule below reads the pod "
        "template of every workload kind the pack sees: Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, "
        "CronJob and JobSet (each replicated job), including init, sidecar and ephemeral containers.",
        "",
    ]
    rows = []
    for control in pss_controls:
        level, _ = control.reference.split("/", 1)
        for rule in rules_of(lambda c, control=control: c == control) or ["**none**"]:
            rows.append([level, control.title, f"`{rule}`", *(levels_of(rule) if rule in policies else ["—"] * 3)])
    out += _table(["level", "control", "rule", *ENVIRONMENTS], rows)
    out += [
        "",
        "`k8s-no-added-capabilities` holds `restricted`'s list (NET_BIND_SERVICE, plus IPC_LOCK for a container "
        "that requests an RDMA device) for both profiles, stricter than `baseline`'s 13 capabilities.",
        "",
        "### Reviewed exceptions",
        "",
        "aiinfra's own node daemons and fabric sidecars pass these rules in every environment only as reviewed in "
        "`aiinfra/core/exceptions.py`: the same name, only the reviewed images, only the rules listed. An "
        "environment's own workloads go on a rule's `allowlist` in its config instead.",
        "",
    ]
    rows = [[f"DaemonSet `{w.workload}`", ", ".join(f"`{r}`" for r in w.rules), w.reason] for w in REVIEWED_WORKLOADS]
    rows += [
        [f"sidecar container `{s.container}`", ", ".join(f"`{r}`" for r in s.rules), s.reason]
        for s in REVIEWED_SIDECARS
    ]
    rows += [
        [
            f"hostPath `{h.path}` at `{h.mount_path}`" + (f" in `{h.sidecar}`" if h.sidecar else ""),
            "`k8s-no-host-path`",
            h.reason,
        ]
        for h in REVIEWED_HOST_PATHS
    ]
    out += _table(["exception", "rules", "reason"], rows)

    for title, source, items in benchmarks:
        out += ["", f"## {title}", ""]
        rows = []
        for item in items:
            c = item.control
            found = rules_of(
                lambda x, c=c: (x.framework, x.version, x.reference) == (c.framework, c.version, c.reference)
            )
            if found:
                rows += [[c.reference, c.title, f"`{rule}`", *levels_of(rule)] for rule in found]
            elif item.not_at_plan_time:
                rows.append([c.reference, c.title, f"not checkable at plan time: {item.not_at_plan_time}", "", "", ""])
            else:
                rows.append([c.reference, c.title, "**gap**: visible in a plan, no rule yet", "", "", ""])
        out += _table(["item", "title", "rule", *ENVIRONMENTS], rows)
        out += [
            "",
            f"Ids and titles as aquasecurity/kube-bench ships the benchmark (`{source}`, commit a73ce378, "
            "2026-06-09); node-file items are folded into one row per section.",
        ]

    out += ["", "## Every rule and its controls", ""]
    rows = []
    for name, policy in policies.items():
        named = [f"{c.framework} {c.version} {c.reference}: {c.title}" for c in controls[name]]
        checkov = sorted({check for c in controls[name] for check in c.checkov}, key=lambda s: (len(s), s))
        rows.append([f"`{name}`", policy.severity.value, "<br>".join(named), ", ".join(checkov), *levels_of(name)])
    out += _table(["rule", "severity", "controls", "checkov", *ENVIRONMENTS], rows)

    out += ["", "## Compared with checkov and Kyverno", ""]
    for title, source, checks in (("checkov", CHECKOV_SOURCE, CHECKOV), ("Kyverno", KYVERNO_SOURCE, KYVERNO)):
        rows = []
        for check in checks:
            found = list(check.rules) or checkov_rules(check.id)
            if check.pss:
                found = rules_of(lambda c, check=check: c.framework == pss[0] and c.reference == check.pss)
            pack_side = ", ".join(f"`{r}`" for r in found)
            if check.moot:
                pack_side = f"n/a: {check.moot}"
            elif check.lacks:
                pack_side = f"{pack_side} — lacks: {check.lacks}" if found else f"**lacks**: {check.lacks}"
            rows.append([f"`{check.id}`", check.title, pack_side])
        out += [f"### {title}", "", f"Source: {source}.", ""]
        out += _table(["check", "title", "the pack"], rows)
        out.append("")
    lacking = [c.id for c in (*CHECKOV, *KYVERNO) if c.lacks]
    out += [
        f"What they check that the pack does not ({len(lacking)}): " + ", ".join(f"`{c}`" for c in lacking) + ". "
        "What the pack checks that they do not: Pod Security's Host Probes / Lifecycle Hooks control (Kubernetes "
        "1.34; neither tool has it), AppArmor's `appArmorProfile` field (Kyverno reads only the beta annotation), "
        "SELinux type `container_engine_t` (Kyverno's list predates it), Windows HostProcess, /proc mount, SELinux "
        "and sysctls (checkov has no check for them), and the reviewed exceptions of the project's own daemons, "
        "sidecars and fabric host paths, narrower than a per-workload exclusion.",
        "",
    ]
    return "\n".join(out)


def main() -> None:
    with PolicyAnalyzer(PACK, StackContext("aiinfra", "coverage", {})) as analyzer:
        DOC.write_text(render(analyzer.info))
    print(f"wrote {DOC.relative_to(REPO)}")


if __name__ == "__main__":
    main()
