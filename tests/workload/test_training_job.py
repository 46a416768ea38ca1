"""The training deploy component under the mock engine: one JobSet per fabric, valid against the JobSet CRD
schema (tests/data/crds/) and the pod and Service against Kubernetes' own schemas, snapshot-tested; the
fabric wiring a user would notice missing; refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi_kubernetes as k8s
import pytest

from aiinfra.core.catalog import resolve
from aiinfra.core.errors import InputError
from components.common import Taint
from components.kubernetes.fabric import pod_security_level
from tests.conftest import one
from tests.k8s_schema import assert_valid, manifest
from workloads.deploy.training_job import (
    RUN_AS,
    TRAINING_IMAGE,
    XLA_TRAINING_IMAGE,
    TrainingJob,
    TrainingJobArgs,
    training_image,
)
from workloads.training.config import TrainConfig, parse_config

KUBERNETES_VERSION = "1.33"
FABRICS = {
    "efa": ("aws", "H100:8"),
    "tcpxo": ("gcp", "H100:8"),
    "gke-rdma": ("gcp", "H200:8"),
    "infiniband": ("azure", "H100:8"),
    "tpu": ("gcp", "TPU-v5p:2x2x2"),
    "none": ("aws", "L4:1"),
}
LAKES = {
    "aws": "s3://lake-aws/",
    "gcp": "gs://lake-gcp/",
    "azure": "abfs://lake@lakeazure.dfs.core.windows.net/",
    "onprem": "s3://lake-onprem/",
}


IMAGE = "registry.example.com/aiinfra-training@sha256:" + "ab" * 32


def job_args(cloud: str, accelerator: str, **overrides) -> dict:
    shape = overrides.pop("shape", None) or resolve(cloud, accelerator)
    return {
        "image": IMAGE,
        "namespace": "team-nlp",
        "queue": "h100",
        "service_account": "workload",
        "pool": "gpu",
        "shape": shape,
        "nodes": shape.tpu.hosts if shape.tpu else 2,
        "train": TrainConfig(recipe="1b", steps=1000, lake=LAKES[cloud], run="llm-pretrain", checkpoint_every=100),
        "tags": {"cost-center": "ml-platform"},
        **overrides,
    }


def render(run_mocked, cloud: str, accelerator: str, **overrides):
    def program():
        provider = k8s.Provider("cluster", kubeconfig="{}")
        TrainingJob("llm-pretrain", TrainingJobArgs(provider=provider, **job_args(cloud, accelerator, **overrides)))

    run = run_mocked(program)
    return manifest(one(run, "kubernetes:jobset.x-k8s.io/v1alpha2:JobSet")), manifest(
        one(run, "kubernetes:core/v1:Service")
    )


def pod_of(jobset: dict) -> dict:
    (replicated,) = jobset["spec"]["replicatedJobs"]
    return replicated["template"]["spec"]["template"]


def trainer_of(jobset: dict) -> dict:
    (container,) = pod_of(jobset)["spec"]["containers"]
    return container


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


@pytest.mark.parametrize("fabric", FABRICS)
def test_jobset_service_and_pod_are_valid_kubernetes_and_match_the_snapshot(run_mocked, snapshot, fabric):
    jobset, service = render(run_mocked, *FABRICS[fabric])
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "trainer", **pod_of(jobset)["metadata"]}}
    pod["spec"] = pod_of(jobset)["spec"]
    assert assert_valid([jobset, service, pod], KUBERNETES_VERSION) == 3
    assert {"jobset": jobset, "service": service} == snapshot


def test_kueue_admits_one_gang_that_fails_and_restarts_as_a_whole(run_mocked):
    jobset, service = render(run_mocked, "aws", "H100:8", max_restarts=5)
    assert jobset["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "h100"
    spec = jobset["spec"]
    assert spec["failurePolicy"] == {"maxRestarts": 5}
    assert spec["successPolicy"] == {"operator": "All", "targetReplicatedJobs": ["trainer"]}
    job = spec["replicatedJobs"][0]["template"]["spec"]
    assert (job["parallelism"], job["completions"], job["backoffLimit"]) == (2, 2, 0)
    assert pod_of(jobset)["spec"]["restartPolicy"] == "Never"
    assert spec["network"]["subdomain"] == service["metadata"]["name"] == "llm-pretrain-workers"
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {"jobset.sigs.k8s.io/jobset-name": "llm-pretrain"}


def test_torchrun_rendezvous_on_pod_zero_and_runs_the_given_trainer_flags(run_mocked):
    jobset, _ = render(run_mocked, "aws", "H100:8")
    trainer = trainer_of(jobset)
    command = trainer["command"]
    assert "--rdzv-backend=c10d" in command
    assert "--rdzv-endpoint=llm-pretrain-trainer-0-0.llm-pretrain-workers:29400" in command
    assert env_of(trainer)["NNODES"] == "2" and env_of(trainer)["NPROC_PER_NODE"] == "8"
    assert env_of(trainer)["TORCH_DISABLE_SHARE_RDZV_TCP_STORE"] == "1"
    trainer_flags = command[command.index("workloads.training.train") + 1 :]
    assert parse_config(trainer_flags) == job_args("aws", "H100:8")["train"]


def test_efa_pods_get_every_interface_huge_pages_and_no_extra_capability(run_mocked):
    jobset, _ = render(run_mocked, "aws", "H100:8")
    trainer = trainer_of(jobset)
    limits = trainer["resources"]["limits"]
    assert limits["vpc.amazonaws.com/efa"] == "32"
    assert limits["hugepages-2Mi"] == "5120Mi"
    assert limits["nvidia.com/gpu"] == "8"
    assert trainer["resources"]["requests"] == limits  # Guaranteed QoS: nothing is overcommitted
    assert env_of(trainer)["FI_PROVIDER"] == "efa"
    assert env_of(trainer)["FI_EFA_USE_DEVICE_RDMA"] == "1"
    assert trainer["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert {"name": "scratch", "emptyDir": {}} in pod_of(jobset)["spec"]["volumes"]  # p5: 8 NVMe in RAID0


def test_tcpxo_pods_attach_eight_gpu_nics_and_run_the_daemon_as_a_native_sidecar(run_mocked):
    jobset, _ = render(run_mocked, "gcp", "H100:8")
    pod = pod_of(jobset)
    interfaces = json.loads(pod["metadata"]["annotations"]["networking.gke.io/interfaces"])
    assert [i["interfaceName"] for i in interfaces] == [f"eth{i}" for i in range(9)]
    (daemon,) = pod["spec"]["initContainers"]
    assert daemon["restartPolicy"] == "Always"
    assert ":" in daemon["image"] and not daemon["image"].endswith(":latest")
    assert daemon["securityContext"]["capabilities"]["add"] == ["NET_ADMIN", "NET_BIND_SERVICE"]
    env = env_of(trainer_of(jobset))
    assert env["NCCL_FASTRAK_IFNAME"] == "eth1,eth2,eth3,eth4,eth5,eth6,eth7,eth8"
    assert env["NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY"] == "/dev/aperture_devices"
    host_paths = {v["hostPath"]["path"] for v in pod["spec"]["volumes"] if "hostPath" in v}
    assert {"/dev/aperture_devices", "/home/kubernetes/bin/nvidia"} <= host_paths


def test_gke_rdma_pods_attach_the_roce_nics_and_load_the_hosts_gib_plugin_without_a_capability(run_mocked):
    jobset, _ = render(run_mocked, "gcp", "H200:8")
    pod = pod_of(jobset)
    interfaces = json.loads(pod["metadata"]["annotations"]["networking.gke.io/interfaces"])
    assert [i["network"] for i in interfaces] == ["default", "gvnic-1", *(f"rdma-{i}" for i in range(8))]
    trainer = trainer_of(jobset)
    assert trainer["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert "initContainers" not in pod["spec"]
    env = env_of(trainer)
    assert env["NCCL_NET"] == "gIB"
    assert env["NCCL_TUNER_CONFIG_PATH"] == "/usr/local/gib/configs/tuner_config_a3u.txtpb"
    assert env["LD_LIBRARY_PATH"].split(":") == ["/usr/local/nvidia/lib64", "/usr/local/gib/lib64"]
    mounts = {m["mountPath"]: m["name"] for m in trainer["volumeMounts"]}
    host_paths = {v["name"]: v["hostPath"]["path"] for v in pod["spec"]["volumes"] if "hostPath" in v}
    assert {path: host_paths[mounts[path]] for path in ("/usr/local/nvidia", "/usr/local/gib")} == {
        "/usr/local/nvidia": "/home/kubernetes/bin/nvidia",
        "/usr/local/gib": "/home/kubernetes/bin/gib",
    }
    assert set(trainer["resources"]["limits"]) == {"cpu", "memory", "nvidia.com/gpu"}


def test_infiniband_pods_get_the_rdma_device_and_ipc_lock_only(run_mocked):
    jobset, _ = render(run_mocked, "azure", "H100:8")
    trainer = trainer_of(jobset)
    assert trainer["resources"]["limits"]["rdma/shared_ib"] == "1"
    assert trainer["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["IPC_LOCK"]}
    assert env_of(trainer)["NCCL_IB_HCA"] == "mlx5_ib"
    assert pod_of(jobset)["metadata"]["labels"]["azure.workload.identity/use"] == "true"


def test_tpu_jobs_take_whole_slices_exclusively(run_mocked):
    jobset, _ = render(run_mocked, "gcp", "TPU-v5p:2x2x2")
    assert jobset["metadata"]["annotations"] == {
        "alpha.jobset.sigs.k8s.io/exclusive-topology": "cloud.google.com/gke-nodepool"
    }
    spec = pod_of(jobset)["spec"]
    assert spec["nodeSelector"] == {
        "aiinfra.dev/pool": "gpu",
        "cloud.google.com/gke-tpu-accelerator": "tpu-v5p-slice",
        "cloud.google.com/gke-tpu-topology": "2x2x2",
    }
    assert trainer_of(jobset)["resources"]["limits"]["google.com/tpu"] == "4"
    assert {"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    # Sized from the catalog's ct5p-hightpu-4t host (208 vCPUs, 448 GiB), 90 % / 85 % of it.
    assert trainer_of(jobset)["resources"]["limits"] | {"google.com/tpu": "4"} == {
        "cpu": "187",
        "memory": "380Gi",
        "google.com/tpu": "4",
    }


def test_tpu_hosts_run_one_xla_trainer_each_from_the_xla_image(run_mocked):
    """No torchrun with a process per chip: one `--device xla` trainer per host (torch_xla spawns the per-chip
    workers), the same flags otherwise, in the image that carries torch_xla and libtpu."""
    jobset, _ = render(run_mocked, "gcp", "TPU-v5p:2x2x2")
    trainer = trainer_of(jobset)
    assert training_image(resolve("gcp", "TPU-v5p:2x2x2")) == XLA_TRAINING_IMAGE
    assert XLA_TRAINING_IMAGE.dockerfile == "workloads/training/Dockerfile.xla"
    python, flag, module, *argv = trainer["command"]
    assert [python, flag, module] == ["python", "-m", "workloads.training.train"]
    train = job_args("gcp", "TPU-v5p:2x2x2")["train"]
    assert parse_config(argv) == TrainConfig(**{**vars(train), "device": "xla"})
    env = env_of(trainer)
    assert env["PJRT_DEVICE"] == "TPU"
    assert "MASTER_ADDR" not in env  # two hosts: torch_xla finds the master in GKE's TPU_WORKER_HOSTNAMES
    assert not {"NNODES", "NPROC_PER_NODE"} & env.keys()

    single_host, _ = render(run_mocked, "gcp", "TPU-v5p:2x2x1")
    assert env_of(trainer_of(single_host))["MASTER_ADDR"] == "localhost"


def test_pods_are_locked_down_non_root_with_shm_and_tolerate_the_pool(run_mocked):
    jobset, _ = render(run_mocked, "aws", "L4:1", pool_taints=(Taint("dedicated", "training"),))
    spec = pod_of(jobset)["spec"]
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["securityContext"]["runAsUser"] > 10000  # checkov CKV_K8S_40: no uid the host may have
    assert trainer_of(jobset)["securityContext"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert spec["automountServiceAccountToken"] is False
    assert {"name": "dshm", "emptyDir": {"medium": "Memory"}} in spec["volumes"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "16Gi"}} in spec["volumes"]
    assert {"name": "tmp", "mountPath": "/tmp"} in trainer_of(jobset)["volumeMounts"]
    assert {"key": "dedicated", "operator": "Equal", "value": "training", "effect": "NoSchedule"} in spec["tolerations"]
    assert spec["serviceAccountName"] == "workload"
    assert trainer_of(jobset)["image"] == IMAGE
    assert training_image(resolve("aws", "L4:1")) == TRAINING_IMAGE


def test_onprem_scratch_is_a_local_nvme_ephemeral_volume(run_mocked):
    jobset, _ = render(
        run_mocked,
        "onprem",
        "H100:8",
        shape=resolve("onprem", "H100:8", fabric="infiniband"),
        train=TrainConfig(lake="s3://lake-onprem/", endpoint_url="https://minio.rack.example.com"),
        cpu=96,
        memory_gib=1500,
        onprem_scratch_gib=2000,
    )
    (scratch,) = [v for v in pod_of(jobset)["spec"]["volumes"] if v["name"] == "scratch"]
    claim = scratch["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "local-nvme"
    assert claim["resources"]["requests"]["storage"] == "2000Gi"
    assert env_of(trainer_of(jobset))["NCCL_IB_HCA"] == "mlx5"


@pytest.mark.parametrize(
    ("fabric", "level"),
    [
        ("efa", "restricted"),
        ("tcpxo", "privileged"),
        ("gke-rdma", "privileged"),
        ("infiniband", "privileged"),
        ("tpu", "restricted"),
        ("none", "restricted"),
    ],
)
def test_pod_security_level_the_namespace_needs(fabric, level):
    assert pod_security_level(resolve(*FABRICS[fabric])) == level


def test_refusals_name_every_argument_at_once(run_mocked):
    with pytest.raises(InputError) as raised:
        render(
            run_mocked,
            "gcp",
            "TPU-v5p:2x2x2",
            nodes=1,
            image="registry.example.com/training:latest",
            train=TrainConfig(lake=".aiinfra/lake"),
            onprem_scratch_gib=10,
        )
    paths = sorted(p.path for p in raised.value.problems)
    assert paths == [
        "llm-pretrain.image",
        "llm-pretrain.nodes",
        "llm-pretrain.onprem_scratch_gib",
        "llm-pretrain.train.lake",
    ]


def test_onprem_pods_need_an_explicit_size(run_mocked):
    with pytest.raises(InputError, match="give the pool's node size"):
        render(run_mocked, "onprem", "H100:8", shape=resolve("onprem", "H100:8", fabric="infiniband"))


def test_onprem_pods_are_sized_from_the_pools_declared_node_size(run_mocked):
    shape = resolve("onprem", "H100:8", fabric="infiniband", node_size=(224, 2048))
    jobset, _ = render(run_mocked, "onprem", "H100:8", shape=shape)
    limits = trainer_of(jobset)["resources"]["limits"]
    assert (limits["cpu"], limits["memory"]) == ("201", "1740Gi")


@pytest.mark.parametrize("image", [TRAINING_IMAGE, XLA_TRAINING_IMAGE])
def test_the_images_run_as_the_pods_user(image):
    """The pod's runAsUser owns nothing in the image but must be the user the image was built for."""
    dockerfile = (Path(__file__).resolve().parents[2] / image.dockerfile).read_text()
    users = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert users == [f"{RUN_AS}:{RUN_AS}"]
    assert f"useradd --uid {RUN_AS} " in dockerfile
