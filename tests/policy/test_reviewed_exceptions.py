"""aiinfra's own node daemons and fabric sidecars pass the pod-security rules in every environment, through the
exceptions reviewed in aiinfra.core.exceptions, with no per-environment allowlist; anything that only looks
like them (another image, another name, more capabilities) is still blocked. Through the real analyzer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from aiinfra.core.catalog import resolve
from aiinfra.core.exceptions import (
    HOST_ACCESS_RULES,
    HOST_PATH_RULES,
    REVIEWED_HOST_PATHS,
    REVIEWED_SIDECARS,
    REVIEWED_WORKLOADS,
    reviewed_host_mount,
    reviewed_workload,
)
from components.kubernetes.fabric import pod_wiring
from tests.policy.conftest import REPO, resource, violated
from tests.policy.pods import container, pod_spec

DAEMONSET = "kubernetes:apps/v1:DaemonSet"
JOBSET = "kubernetes:jobset.x-k8s.io/v1alpha2:JobSet"
PRIVILEGED = {"privileged": True, "allowPrivilegeEscalation": True, "runAsUser": 0}


def host_daemon(workload: str, images: tuple[str, ...]) -> Any:
    """A DaemonSet as fabric installers are: host network and PID, privileged root containers mounting the host."""
    namespace, name = workload.split("/")
    spec = {
        "hostNetwork": True,
        "hostPID": True,
        "containers": [
            {
                "name": f"c{i}",
                "image": image,
                "securityContext": PRIVILEGED,
                "resources": {"limits": {"cpu": "1"}},
                "volumeMounts": [{"name": "host", "mountPath": "/host"}],
            }
            for i, image in enumerate(images)
        ],
        "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
    }
    props = {"metadata": {"name": name, "namespace": namespace}, "spec": {"template": {"spec": spec}}}
    return resource(DAEMONSET, props, name=name)


def jobset(spec: dict[str, Any], name: str = "train", namespace: str = "team-nlp") -> Any:
    job = {"template": {"spec": {"template": {"spec": spec}}}}
    props = {"metadata": {"name": name, "namespace": namespace}, "spec": {"replicatedJobs": [{"name": "w", **job}]}}
    return resource(JOBSET, props, name=name)


@pytest.mark.parametrize("entry", REVIEWED_WORKLOADS, ids=lambda e: e.workload)
def test_each_reviewed_daemon_passes_the_rules_it_was_reviewed_for(pack, entry):
    assert violated(pack, host_daemon(entry.workload, entry.images)) & set(entry.rules) == set()


@pytest.mark.parametrize("entry", REVIEWED_WORKLOADS, ids=lambda e: e.workload)
def test_a_daemon_with_a_reviewed_name_but_another_image_is_blocked(pack, entry):
    images = (*entry.images[:-1], "docker.io/someone/miner:1.0")
    assert set(HOST_ACCESS_RULES) <= violated(pack, host_daemon(entry.workload, images))


def test_a_daemon_with_reviewed_images_but_another_name_is_blocked(pack):
    entry = REVIEWED_WORKLOADS[0]
    assert set(HOST_ACCESS_RULES) <= violated(pack, host_daemon("kube-system/my-installer", entry.images))


@pytest.mark.parametrize("rule", ["k8s-gpu-pods-request-gpus", *HOST_PATH_RULES])
def test_a_daemon_is_let_through_only_the_rules_it_was_reviewed_for(pack, rule):
    (entry,) = [e for e in REVIEWED_WORKLOADS if rule not in e.rules][:1]
    assert rule in violated(pack, host_daemon(entry.workload, entry.images))


@pytest.mark.parametrize("entry", REVIEWED_WORKLOADS, ids=lambda e: e.workload)
def test_reviewed_daemons_need_no_image_digest_but_an_impostor_does(pack, entry):
    assert "k8s-image-digest" not in violated(pack, host_daemon(entry.workload, entry.images))
    impostor = host_daemon(entry.workload, (*entry.images, "docker.io/someone/miner:1.0"))
    assert "k8s-image-digest" in violated(pack, impostor)


def test_the_reviewed_fabric_host_paths_are_exactly_what_the_fabrics_mount():
    """Every hostPath a fabric's pod wiring mounts is reviewed, and every reviewed one is still mounted."""
    mounted = set()
    for cloud, accelerator in (("gcp", "H100:8"), ("gcp", "H200:8")):
        wiring = pod_wiring(resolve(cloud, accelerator))
        paths = {v["name"]: v["hostPath"]["path"] for v in wiring.volumes if "hostPath" in v}
        users = [("trainer", "ghcr.io/aiinfra/aiinfra-training:0.1.0", wiring.mounts)]
        users += [(c["name"], c["image"], c.get("volumeMounts", ())) for c in wiring.init_containers]
        for name, image, mounts in users:
            for mount in mounts:
                if mount["name"] in paths:
                    entry = reviewed_host_mount(paths[mount["name"]], mount["mountPath"], name, image)
                    assert entry, f"{name} mounts host {paths[mount['name']]} at {mount['mountPath']} unreviewed"
                    mounted.add(entry)
    assert mounted == set(REVIEWED_HOST_PATHS)


@pytest.mark.parametrize("manifest", sorted((REPO / "components" / "gcp" / "manifests").glob("*.yaml")))
def test_every_shipped_daemon_manifest_is_reviewed_with_its_images(manifest: Path):
    doc = yaml.safe_load(manifest.read_text())
    spec = doc["spec"]["template"]["spec"]
    images = [c["image"] for c in spec.get("initContainers", []) + spec["containers"]]
    workload = f"{doc['metadata']['namespace']}/{doc['metadata']['name']}"
    for rule in HOST_ACCESS_RULES:
        assert reviewed_workload(workload, rule, images), f"{workload} is not reviewed for {rule} with {images}"


def tcpxo_pod(**daemon_security: Any) -> dict[str, Any]:
    """A training pod on an A3 Mega pool, wired as TrainingJob wires it, with the sidecar's securityContext
    overridden."""
    wiring = pod_wiring(resolve("gcp", "H100:8"))
    (daemon,) = wiring.init_containers
    daemon = {**daemon, "securityContext": {**daemon["securityContext"], **daemon_security}}
    trainer = container(name="trainer", volumeMounts=list(wiring.mounts))
    return pod_spec(trainer, initContainers=[daemon], volumes=list(wiring.volumes))


def test_the_reviewed_tcpxo_sidecar_runs_as_root_with_its_capabilities(pack):
    (sidecar,) = REVIEWED_SIDECARS
    assert {"k8s-run-as-non-root", "k8s-no-run-as-user-0", "k8s-no-added-capabilities"} <= set(sidecar.rules)
    assert violated(pack, jobset(tcpxo_pod())) & (set(sidecar.rules) | set(HOST_PATH_RULES)) == set()


@pytest.mark.parametrize(
    ("override", "rule"),
    [
        ({"capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN", "SYS_ADMIN"]}}, "k8s-no-added-capabilities"),
        ({"privileged": True}, "k8s-no-privileged"),
    ],
)
def test_a_tcpxo_sidecar_asking_for_more_than_reviewed_is_blocked(pack, override, rule):
    assert rule in violated(pack, jobset(tcpxo_pod(**override)))


def test_a_container_copying_the_sidecar_name_with_another_image_is_blocked(pack):
    sidecar = REVIEWED_SIDECARS[0]
    impostor = container(
        name=sidecar.container,
        image="docker.io/someone/rxdm:1.0",
        securityContext={"runAsUser": 0, "runAsNonRoot": False, "allowPrivilegeEscalation": False},
    )
    blocked = {"k8s-run-as-non-root", "k8s-no-run-as-user-0", "k8s-image-digest"}
    assert blocked <= violated(pack, jobset(pod_spec(container(), impostor)))


def ipc_lock(**resources: Any) -> dict[str, Any]:
    return container(
        securityContext={"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"], "add": ["IPC_LOCK"]}},
        resources={"limits": {"cpu": "4", "memory": "16Gi", **resources}},
    )


def test_ipc_lock_is_admitted_with_an_rdma_device_and_only_then(pack):
    assert "k8s-no-added-capabilities" not in violated(pack, jobset(pod_spec(ipc_lock(**{"rdma/shared_ib": "1"}))))
    assert "k8s-no-added-capabilities" not in violated(pack, jobset(pod_spec(ipc_lock(**{"rdma/shared_roce": "1"}))))
    assert "k8s-no-added-capabilities" in violated(pack, jobset(pod_spec(ipc_lock())))
