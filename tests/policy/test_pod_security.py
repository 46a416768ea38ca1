"""Every control of the Pod Security Standards (baseline and restricted) as the pack's rules see it, through the
real analyzer: a violating and a compliant case per rule (run by test_rules.py with every other rule's), each
rule on every workload kind the pack reads, and the edges where the standard's wording is exact (pod-level
versus container-level settings, explicit `false`, the allowed value lists).

Source: https://kubernetes.io/docs/concepts/security/pod-security-standards/ (Kubernetes v1.34)."""

from __future__ import annotations

from typing import Any

import pytest

from aiinfra.core.catalog import resolve
from components.kubernetes.fabric import pod_wiring
from tests.policy.conftest import analyze, violated
from tests.policy.pods import TEMPLATE_PATHS, container, deployment, pod_spec, secured, workload

NOT_ROOT = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def pod_security(**security: Any) -> dict[str, Any]:
    """A compliant pod whose pod-level securityContext also has `security`."""
    return pod_spec(securityContext={**NOT_ROOT, **security})


def with_volumes(*volumes: dict[str, Any], mounts: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    return pod_spec(container(volumeMounts=list(mounts)), volumes=list(volumes))


DOCKER_SOCKET = {"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}
ALL_RESTRICTED_VOLUMES = [
    {"name": "a", "configMap": {"name": "c"}},
    {"name": "b", "secret": {"secretName": "s"}},
    {"name": "c", "emptyDir": {}},
    {"name": "d", "persistentVolumeClaim": {"claimName": "p"}},
    {"name": "e", "projected": {"sources": []}},
    {"name": "f", "downwardAPI": {"items": []}},
    {"name": "g", "csi": {"driver": "secrets-store.csi.k8s.io"}},
    {"name": "h", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
]
HOST_PROBE = {"httpGet": {"path": "/", "port": 80, "host": "169.254.169.254"}}


def fabric_pod(cloud: str, accelerator: str) -> dict[str, Any]:
    """A training pod with a fabric's pod-side wiring (volumes, mounts, sidecars) as TrainingJob adds it."""
    wiring = pod_wiring(resolve(cloud, accelerator))
    trainer = container(name="trainer", volumeMounts=list(wiring.mounts))
    return pod_spec(trainer, volumes=list(wiring.volumes), initContainers=list(wiring.init_containers))


POD_SECURITY_CASES: dict[str, tuple[list, list]] = {
    "k8s-drop-all-capabilities": (
        [deployment(pod_spec(container(securityContext={"allowPrivilegeEscalation": False})))],
        [deployment(pod_spec(secured(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})))],
    ),
    "k8s-no-run-as-user-0": (
        [deployment(pod_security(runAsUser=0)), deployment(pod_spec(secured(runAsUser=0)), "b")],
        [deployment(pod_security(runAsUser=1000)), deployment(pod_spec(secured(runAsUser=65534)), "b")],
    ),
    "k8s-no-host-process": (
        [deployment(pod_spec(secured(windowsOptions={"hostProcess": True})))],
        [deployment(pod_security(windowsOptions={"hostProcess": False, "runAsUserName": "app"}))],
    ),
    "k8s-no-host-path": (
        [deployment(with_volumes(DOCKER_SOCKET, mounts=({"name": "docker", "mountPath": "/var/run/docker.sock"},)))],
        [deployment(fabric_pod("gcp", "H100:8")), deployment(fabric_pod("gcp", "H200:8"), "b")],
    ),
    "k8s-restricted-volume-types": (
        [deployment(with_volumes({"name": "data", "nfs": {"server": "10.0.0.2", "path": "/export"}}))],
        [deployment(with_volumes(*ALL_RESTRICTED_VOLUMES))],
    ),
    "k8s-no-host-ports": (
        [deployment(pod_spec(container(ports=[{"containerPort": 8080, "hostPort": 8080}])))],
        [deployment(pod_spec(container(ports=[{"containerPort": 8080, "hostPort": 0}, {"containerPort": 9090}])))],
    ),
    "k8s-no-host-probes": (
        [
            deployment(pod_spec(container(livenessProbe=HOST_PROBE))),
            deployment(
                pod_spec(container(lifecycle={"preStop": {"tcpSocket": {"port": 22, "host": "10.0.0.1"}}})), "b"
            ),
        ],
        [
            deployment(
                pod_spec(
                    container(
                        readinessProbe={"httpGet": {"path": "/readyz", "port": "http", "host": ""}},
                        lifecycle={"preStop": {"sleep": {"seconds": 5}}},
                    )
                )
            )
        ],
    ),
    "k8s-apparmor-not-unconfined": (
        [
            deployment(pod_spec(secured(appArmorProfile={"type": "Unconfined"}))),
            deployment(
                pod_spec(), "b", annotations={"container.apparmor.security.beta.kubernetes.io/main": "unconfined"}
            ),
        ],
        [
            deployment(
                pod_security(appArmorProfile={"type": "RuntimeDefault"}),
                annotations={"container.apparmor.security.beta.kubernetes.io/main": "localhost/k8s-train"},
            ),
            deployment(pod_spec(secured(appArmorProfile={"type": "Localhost", "localhostProfile": "p"})), "b"),
        ],
    ),
    "k8s-selinux-options": (
        [
            deployment(pod_spec(secured(seLinuxOptions={"type": "spc_t"}))),
            deployment(pod_security(seLinuxOptions={"user": "system_u", "role": "system_r"}), "b"),
        ],
        [deployment(pod_security(seLinuxOptions={"type": "container_t", "level": "s0:c123,c456"}))],
    ),
    "k8s-default-proc-mount": (
        [deployment(pod_spec(secured(procMount="Unmasked")))],
        [deployment(pod_spec(secured(procMount="Default")))],
    ),
    "k8s-safe-sysctls": (
        [deployment(pod_security(sysctls=[{"name": "kernel.msgmax", "value": "65536"}]))],
        [deployment(pod_security(sysctls=[{"name": "net.ipv4.tcp_keepalive_time", "value": "600"}]))],
    ),
    "k8s-image-digest": (
        [deployment(pod_spec(container(image="ghcr.io/example/train:1.4.2")))],
        [deployment(pod_spec(initContainers=[container(name="fetch")]))],
    ),
}
"""The rules this module adds to test_rules.CASES (violating, compliant), all through the real analyzer."""


POD_RULE_VIOLATIONS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "k8s-no-privileged": (pod_spec(secured(privileged=True)), {}),
    "k8s-no-host-namespaces": (pod_spec(hostIPC=True), {}),
    "k8s-no-privilege-escalation": (pod_spec(secured(allowPrivilegeEscalation=True)), {}),
    "k8s-no-added-capabilities": (pod_spec(secured(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]})), {}),
    "k8s-drop-all-capabilities": (pod_spec(secured(capabilities={"drop": ["NET_RAW"]})), {}),
    "k8s-run-as-non-root": (pod_spec(secured(runAsNonRoot=False)), {}),
    "k8s-no-run-as-user-0": (pod_security(runAsUser=0), {}),
    "k8s-seccomp-runtime-default": (pod_spec(secured(seccompProfile={"type": "Unconfined"})), {}),
    "k8s-no-host-process": (pod_security(windowsOptions={"hostProcess": True}), {}),
    "k8s-no-host-path": (with_volumes({"name": "root", "hostPath": {"path": "/"}}), {}),
    "k8s-restricted-volume-types": (with_volumes({"name": "disk", "awsElasticBlockStore": {"volumeID": "v"}}), {}),
    "k8s-no-host-ports": (pod_spec(container(ports=[{"containerPort": 53, "hostPort": 53}])), {}),
    "k8s-no-host-probes": (pod_spec(container(startupProbe={"tcpSocket": {"port": 1, "host": "node"}})), {}),
    "k8s-apparmor-not-unconfined": (pod_spec(), {"container.apparmor.security.beta.kubernetes.io/main": "unconfined"}),
    "k8s-selinux-options": (pod_spec(secured(seLinuxOptions={"role": "sysadm_r"})), {}),
    "k8s-default-proc-mount": (pod_spec(secured(procMount="Unmasked")), {}),
    "k8s-safe-sysctls": (pod_security(sysctls=[{"name": "net.core.somaxconn", "value": "1024"}]), {}),
    "k8s-image-digest": (pod_spec(container(image="ghcr.io/example/train:1.4.2")), {}),
}
"""One pod template per pod rule that breaks that rule alone."""


@pytest.mark.parametrize("kind", sorted(TEMPLATE_PATHS))
def test_every_pod_rule_reads_every_workload_kind(pack, kind):
    resources = [workload(kind, spec, annotations=a, name=rule) for rule, (spec, a) in POD_RULE_VIOLATIONS.items()]
    fired: dict[str, set[str]] = {}
    for d in analyze(pack, *resources):
        fired.setdefault(str(d.urn).rsplit("::", 1)[-1], set()).add(d.policy_name)
    assert {rule: fired.get(rule, set()) for rule in POD_RULE_VIOLATIONS} == {
        rule: {rule} for rule in POD_RULE_VIOLATIONS
    }, "each pod breaks exactly its own rule"


@pytest.mark.parametrize("kind", sorted(TEMPLATE_PATHS))
def test_a_pod_that_meets_every_control_passes_every_rule(pack, kind):
    assert violated(pack, workload(kind, pod_spec(container(), initContainers=[container(name="init")]))) == set()


def test_run_as_non_root_is_the_standards_field_not_a_non_zero_user(pack):
    """`restricted` requires runAsNonRoot true; a non-zero runAsUser alone does not meet it."""
    user_only = deployment(
        pod_spec(secured(runAsUser=1000), securityContext={"seccompProfile": NOT_ROOT["seccompProfile"]})
    )
    pod_false = deployment(pod_spec(secured(runAsNonRoot=True), securityContext={**NOT_ROOT, "runAsNonRoot": False}))
    container_only = deployment(
        pod_spec(secured(runAsNonRoot=True), securityContext={"seccompProfile": {"type": "Localhost"}})
    )
    assert "k8s-run-as-non-root" in violated(pack, user_only)
    assert "k8s-run-as-non-root" in violated(pack, pod_false)
    assert "k8s-run-as-non-root" not in violated(pack, container_only)


def test_an_unconfined_pod_seccomp_profile_is_refused_even_when_containers_override_it(pack):
    spec = pod_spec(
        secured(seccompProfile={"type": "RuntimeDefault"}),
        securityContext={**NOT_ROOT, "seccompProfile": {"type": "Unconfined"}},
    )
    assert "k8s-seccomp-runtime-default" in violated(pack, deployment(spec))


@pytest.mark.parametrize("capability", ["CHOWN", "NET_RAW", "SYS_ADMIN"])
def test_only_net_bind_service_is_added_back(pack, capability):
    """The pack holds `restricted`'s list (NET_BIND_SERVICE), which is inside `baseline`'s 13."""
    spec = pod_spec(secured(capabilities={"drop": ["ALL"], "add": [capability]}))
    assert "k8s-no-added-capabilities" in violated(pack, deployment(spec))


def test_a_reviewed_host_path_mounted_elsewhere_or_by_another_container_is_refused(pack):
    tcpxo = fabric_pod("gcp", "H100:8")
    elsewhere = {
        **tcpxo,
        "containers": [{**tcpxo["containers"][0], "volumeMounts": [{"name": "nvidia-libraries", "mountPath": "/opt"}]}],
    }
    sys_by_trainer = {
        **tcpxo,
        "containers": [{**tcpxo["containers"][0], "volumeMounts": [{"name": "sys", "mountPath": "/hostsysfs"}]}],
    }
    other_path = {**tcpxo, "volumes": [*tcpxo["volumes"], {"name": "etc", "hostPath": {"path": "/etc"}}]}
    assert "k8s-no-host-path" not in violated(pack, deployment(tcpxo))
    for spec in (elsewhere, sys_by_trainer, other_path):
        assert "k8s-no-host-path" in violated(pack, deployment(spec))


def test_host_paths_are_never_admitted_as_a_volume_type(pack):
    """hostPath is k8s-no-host-path's: the volume-type rule neither admits nor reports it twice."""
    spec = with_volumes(DOCKER_SOCKET)
    assert violated(pack, deployment(spec)) & {"k8s-no-host-path", "k8s-restricted-volume-types"} == {
        "k8s-no-host-path"
    }


def test_the_digest_must_be_a_full_sha256(pack):
    for image in ("ghcr.io/example/train@sha256:abc", "ghcr.io/example/train:1.4.2@sha512:" + "a" * 128):
        assert "k8s-image-digest" in violated(pack, deployment(pod_spec(container(image=image))))
