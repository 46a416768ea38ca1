"""`TrainingJob`: the trainer on a cluster — a Kueue-admitted JobSet plus the headless Service its pods
rendezvous through.

One replicated job `trainer` runs one pod per node (`parallelism = completions = nodes`), each running
torchrun for the node's accelerators with c10d rendezvous on pod 0 (`<jobset>-trainer-0-0.<service>`). A
failed pod fails its Job (`backoffLimit: 0`, `restartPolicy: Never`); the JobSet then recreates every pod
(up to `max_restarts` times) and the trainer resumes from the latest checkpoint in the lake. Within a pod,
torchrun restarts crashed workers `torchrun_max_restarts` times first.

Fabric wiring (EFA, TCPXO, GKE RDMA, InfiniBand/RoCE) comes from `components.kubernetes.fabric`, by the pool's
NodeShape.
TPU pods get `google.com/tpu` per host, the slice's accelerator and topology node selectors, and JobSet's
exclusive placement of one job per node pool. They run the XLA image and no torchrun: one trainer process per host
(`--device xla`), which spawns a worker per chip through torch_xla's launcher; the workers rendezvous through
`xla://`, on the host that GKE's TPU webhook lists first in `TPU_WORKER_HOSTNAMES` (injected, with
`TPU_WORKER_ID`, into the pods of an Indexed Job with a subdomain that request google.com/tpu).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from aiinfra.core.catalog import NodeShape
from components.common import ArgProblems, Taint
from components.contracts import ImageSource
from components.kubernetes import versions
from components.kubernetes.fabric import pod_wiring
from components.kubernetes.meta import (
    POOL_LABEL,
    accelerator_resource,
    accelerator_tolerations,
    container_resources,
    env_vars,
    object_labels,
    pinned_image,
    taint_tolerations,
    valid_dns_label,
)
from workloads.shared.lake_url import OBJECT_STORES, store_of
from workloads.training.config import TORCHRUN_ENV, TrainConfig

TRAINING_IMAGE = ImageSource("aiinfra-training", "workloads/training/Dockerfile")
XLA_TRAINING_IMAGE = ImageSource("aiinfra-training-xla", "workloads/training/Dockerfile.xla")
"""torch_xla and libtpu: the image of TPU pools."""
REPLICATED_JOB = "trainer"
RENDEZVOUS_PORT = 29400
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
EXCLUSIVE_TOPOLOGY = "alpha.jobset.sigs.k8s.io/exclusive-topology"
AZURE_WORKLOAD_IDENTITY_LABEL = {"azure.workload.identity/use": "true"}
"""AKS injects the workload-identity token only into pods carrying this label."""
RUN_AS = 10001
"""uid and gid of the `trainer` user of the training image: above 10000, so it is no user of the host's."""
SHM_PATH = "/dev/shm"
SCRATCH_PATH = "/scratch"
TMP_PATH = "/tmp"
TMP_SIZE = "16Gi"
"""The writable emptyDir at /tmp (HOME, compiler and kernel caches): the root filesystem is read-only."""
LOCAL_NVME_CLASS = "local-nvme"
"""The on-prem StorageClass of local NVMe (components.kubernetes.onprem)."""


@dataclass(frozen=True, kw_only=True)
class TrainingJobArgs:
    provider: k8s.Provider
    """The cluster's Kubernetes provider (`Cluster.kubernetes_provider`); every object goes through it."""
    namespace: str
    """The team's namespace (made by `Tenancy`)."""
    queue: str
    """The team's Kueue LocalQueue in `namespace` for the pool's accelerator (`Tenancy.local_queues[model]`)."""
    service_account: str
    """The team's workload-identity ServiceAccount in `namespace`, allowed to write the lake's checkpoints/
    and models/ and to read its datasets."""
    pool: str
    """Node pool the pods run on (node selector `aiinfra.dev/pool`)."""
    shape: NodeShape
    """The catalog's resolution of the pool's accelerator: accelerators per node, fabric, NVMe, TPU slice."""
    train: TrainConfig
    """The trainer's flags. `lake` must be an object-store URL (s3://, gs://, abfs://): pods do not outlive
    their disks."""
    nodes: int = 1
    """Pods, one per node. TPU jobs use every host of the slice. Defaults to 1."""
    image: pulumi.Input[str]
    """The training image: `ImageRegistry.refs` of `training_image(shape)` (the XLA image on TPU pools, the CUDA
    one elsewhere), or a prebuilt image pinned by tag or digest; `latest` is refused."""
    max_restarts: int = 3
    """Times the JobSet recreates all pods after one fails (JobSet `failurePolicy.maxRestarts`). Defaults to 3."""
    torchrun_max_restarts: int = 1
    """Times torchrun restarts a pod's workers before the pod fails. Defaults to 1."""
    pool_taints: tuple[Taint, ...] = ()
    """The pool's own taints, tolerated. The accelerator taint is always tolerated."""
    cpu: float | None = None
    """CPU request (and limit) per pod. Defaults to 90 % of the node's vCPUs (`shape.vcpus`); required where the
    shape has no size (an on-prem pool without its node size)."""
    memory_gib: int | None = None
    """Memory request (and limit) per pod. Defaults to 85 % of the machine's memory; required where cpu is."""
    onprem_scratch_gib: int | None = None
    """On-prem only: a local NVMe volume of this size (StorageClass `local-nvme`) at /scratch. Defaults to none.
    Cloud nodes with local NVMe always get their striped (RAID0) ephemeral storage at /scratch."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """The stack's tags, merged into every object's labels."""


def training_image(shape: NodeShape) -> ImageSource:
    """The image of a pool: workloads/training/Dockerfile.xla on TPUs, workloads/training/Dockerfile else."""
    return XLA_TRAINING_IMAGE if shape.tpu is not None else TRAINING_IMAGE


def pod_size(args: TrainingJobArgs) -> tuple[float, int]:
    """CPU and memory GiB per pod: the arguments, else 90 % / 85 % of the machine (room for node daemons)."""
    vcpus, memory_gib = args.shape.vcpus, args.shape.memory_gib
    cpu = args.cpu if args.cpu is not None else (int(vcpus * 0.9) if vcpus else 0)
    memory = args.memory_gib if args.memory_gib is not None else (int(memory_gib * 0.85) if memory_gib else 0)
    return cpu, memory


def job_problems(name: str, args: TrainingJobArgs) -> ArgProblems:
    problems = ArgProblems(name)
    shape = args.shape
    problems.check(valid_dns_label(name), "name", f"{name!r} — must be a DNS label (lower case, digits, '-')")
    problems.check(valid_dns_label(args.namespace), "namespace", f"{args.namespace!r} — must be a DNS label")
    problems.check(bool(args.queue), "queue", "the team's LocalQueue name is required (Kueue admits the job)")
    problems.check(
        not isinstance(args.image, str) or pinned_image(args.image),
        "image",
        f"{args.image!r} — pin a tag or digest (registry/training@sha256:...)",
    )
    problems.check(args.nodes >= 1, "nodes", f"{args.nodes} — at least 1")
    problems.check(args.max_restarts >= 0, "max_restarts", f"{args.max_restarts} — 0 or more")
    problems.check(
        args.torchrun_max_restarts >= 0, "torchrun_max_restarts", f"{args.torchrun_max_restarts} — 0 or more"
    )
    problems.check(
        store_of(args.train.lake) in OBJECT_STORES,
        ("train", "lake"),
        f"{args.train.lake!r} — checkpoints must outlive the pods; use an s3://, gs://, abfs:// or "
        "https://<account>.dfs.core.windows.net lake",
    )
    problems.check(
        shape.accelerator != "cpu",
        "shape",
        "a CPU pool; train on a GPU or TPU pool (CPU training is for `aiinfra local train`)",
    )
    if shape.tpu is not None:
        problems.check(
            args.nodes == shape.tpu.hosts,
            "nodes",
            f"{args.nodes} — a TPU {shape.tpu.generation} {shape.tpu.topology} slice has {shape.tpu.hosts} hosts; "
            f"use nodes: {shape.tpu.hosts}",
        )
    cpu, memory = pod_size(args)
    problems.check(
        cpu > 0 and memory > 0,
        "cpu",
        f"{shape.machine_type or shape.accelerator + ' on-prem'} nodes have no size; give the pool's node size "
        "(on-prem) or cpu and memory_gib per pod",
    )
    problems.check(
        args.onprem_scratch_gib is None or shape.cloud == "onprem",
        "onprem_scratch_gib",
        "on-prem only; cloud nodes with local NVMe get /scratch without it",
    )
    return problems


def torchrun_command(name: str, service: str, args: TrainingJobArgs) -> list[str]:
    endpoint = f"{name}-{REPLICATED_JOB}-0-0.{service}:{RENDEZVOUS_PORT}"
    return [
        "python",
        "-m",
        "torch.distributed.run",
        "--nnodes=$(NNODES)",
        "--nproc-per-node=$(NPROC_PER_NODE)",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={endpoint}",
        f"--rdzv-id={name}",
        f"--max-restarts={args.torchrun_max_restarts}",
        "-m",
        "--",
        "workloads.training.train",
        *args.train.to_argv(),
    ]


def xla_command(args: TrainingJobArgs) -> list[str]:
    """One trainer process per TPU host; torch_xla spawns its per-chip workers (not torchrun)."""
    return ["python", "-m", "workloads.training.train", *replace(args.train, device="xla").to_argv()]


def xla_env(args: TrainingJobArgs) -> dict[str, str]:
    """torch_xla's PJRT runtime on the TPU. `xla://` keeps its TCP store on the declared rendezvous port of the
    master host, which it finds in TPU_WORKER_HOSTNAMES on a multi-host slice; a single host is its own master."""
    return {
        "PJRT_DEVICE": "TPU",
        "MASTER_PORT": str(RENDEZVOUS_PORT),
        **({"MASTER_ADDR": "localhost"} if args.nodes == 1 else {}),
        "PYTHONUNBUFFERED": "1",
    }


def pod_template(name: str, service: str, args: TrainingJobArgs, labels: Mapping[str, str]) -> dict[str, Any]:
    """The pod every node runs: the trainer container and its fabric wiring."""
    shape = args.shape
    cpu, memory_gib = pod_size(args)
    accelerators = {accelerator_resource(shape): str(shape.accelerators_per_node)}
    env = (
        xla_env(args)
        if shape.tpu is not None
        else {
            "NNODES": str(args.nodes),
            "NPROC_PER_NODE": str(shape.accelerators_per_node),
            "PYTHONUNBUFFERED": "1",
            **TORCHRUN_ENV,
        }
    )
    node_selector = {POOL_LABEL: args.pool}
    wiring = pod_wiring(shape)
    accelerators.update(wiring.resources)
    env.update(wiring.env)
    annotations = dict(wiring.annotations)
    volumes: list[dict[str, Any]] = [
        {"name": "dshm", "emptyDir": {"medium": "Memory"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE}},
        *wiring.volumes,
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "dshm", "mountPath": SHM_PATH},
        {"name": "tmp", "mountPath": TMP_PATH},
        *wiring.mounts,
    ]
    init_containers = list(wiring.init_containers)
    capabilities = list(wiring.capabilities)
    if shape.tpu is not None:
        node_selector["cloud.google.com/gke-tpu-accelerator"] = shape.tpu.gke_accelerator
        node_selector["cloud.google.com/gke-tpu-topology"] = shape.tpu.topology

    scratch = _scratch_volume(args)
    if scratch:
        volumes.append(scratch)
        mounts.append({"name": scratch["name"], "mountPath": SCRATCH_PATH})
        env["TMPDIR"] = SCRATCH_PATH

    resources = container_resources(f"{cpu:g}", f"{memory_gib}Gi", cpu_limit=f"{cpu:g}")
    for key in ("requests", "limits"):
        resources[key].update(accelerators)
    trainer = {
        "name": REPLICATED_JOB,
        "image": args.image,
        "command": xla_command(args) if shape.tpu is not None else torchrun_command(name, service, args),
        "env": env_vars(env),
        "ports": [{"name": "rendezvous", "containerPort": RENDEZVOUS_PORT}],
        "resources": resources,
        "volumeMounts": mounts,
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"], **({"add": capabilities} if capabilities else {})},
        },
    }
    pod_labels = {**labels, **(AZURE_WORKLOAD_IDENTITY_LABEL if shape.cloud == "azure" else {})}
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": args.service_account,
        # The trainer never calls the Kubernetes API; the clouds' workload identities inject tokens of their own.
        "automountServiceAccountToken": False,
        "nodeSelector": node_selector,
        "tolerations": accelerator_tolerations(shape) + taint_tolerations(args.pool_taints),
        "securityContext": {
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        **({"initContainers": init_containers} if init_containers else {}),
        "containers": [trainer],
        "volumes": volumes,
    }
    metadata = {"labels": pod_labels, **({"annotations": annotations} if annotations else {})}
    return {"metadata": metadata, "spec": spec}


def _scratch_volume(args: TrainingJobArgs) -> dict[str, Any] | None:
    """Local NVMe at /scratch: the node's RAID0 ephemeral storage in the cloud, a `local-nvme` volume on-prem."""
    if args.shape.local_nvme_disks > 0:
        return {"name": "scratch", "emptyDir": {}}
    if args.onprem_scratch_gib:
        claim = {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": LOCAL_NVME_CLASS,
            "resources": {"requests": {"storage": f"{args.onprem_scratch_gib}Gi"}},
        }
        return {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": claim}}}
    return None


def jobset_spec(name: str, service: str, args: TrainingJobArgs, labels: Mapping[str, str]) -> dict[str, Any]:
    job = {
        "parallelism": args.nodes,
        "completions": args.nodes,
        "completionMode": "Indexed",
        "backoffLimit": 0,
        "template": pod_template(name, service, args, labels),
    }
    return {
        "network": {"enableDNSHostnames": True, "subdomain": service, "publishNotReadyAddresses": True},
        "failurePolicy": {"maxRestarts": args.max_restarts},
        "successPolicy": {"operator": "All", "targetReplicatedJobs": [REPLICATED_JOB]},
        "replicatedJobs": [{"name": REPLICATED_JOB, "replicas": 1, "template": {"spec": job}}],
    }


class TrainingJob(pulumi.ComponentResource):
    """A training run on one pool of one cluster, queued by Kueue in the team's namespace."""

    jobset_name: str
    service_name: str
    model_url: str
    """Where the trained model is exported (what an InferenceService serves)."""

    def __init__(self, name: str, args: TrainingJobArgs, opts: pulumi.ResourceOptions | None = None):
        job_problems(name, args).raise_if_any()  # before registering anything
        super().__init__("aiinfra:workloads:TrainingJob", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        labels = object_labels(args.tags, {"app.kubernetes.io/name": "training", "app.kubernetes.io/instance": name})
        self.jobset_name = name
        self.service_name = f"{name}-workers"
        self.model_url = f"{args.train.lake.rstrip('/')}/models/{args.train.run}/"

        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": self.service_name, "namespace": args.namespace, "labels": labels},
            spec=cast(
                "k8s.core.v1.ServiceSpecArgsDict",
                {
                    "clusterIP": "None",
                    "publishNotReadyAddresses": True,  # pod 0 must resolve before it is ready
                    "selector": {"jobset.sigs.k8s.io/jobset-name": name},
                    "ports": [{"name": "rendezvous", "port": RENDEZVOUS_PORT, "targetPort": RENDEZVOUS_PORT}],
                },
            ),
            opts=child,
        )
        annotations = {EXCLUSIVE_TOPOLOGY: "cloud.google.com/gke-nodepool"} if args.shape.tpu else {}
        k8s.apiextensions.CustomResource(
            f"{name}-jobset",
            api_version=versions.JOBSET_API_VERSION,
            kind="JobSet",
            metadata={
                "name": name,
                "namespace": args.namespace,
                "labels": {**labels, QUEUE_LABEL: args.queue},
                **({"annotations": annotations} if annotations else {}),
            },
            spec=jobset_spec(name, self.service_name, args, labels),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[service])),
        )
        self.register_outputs(
            {
                "jobSet": name,
                "service": self.service_name,
                "namespace": args.namespace,
                "modelUrl": self.model_url,
            }
        )
