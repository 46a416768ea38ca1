"""Spec → component Args: the pure mapping `__main__.py` uses (tested without Pulumi running)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import pulumi

from aiinfra.core.errors import InputError, Problem, join_path
from aiinfra.core.vocab import Access, Cloud
from aiinfra.spec import (
    ClusterSpec,
    DataLakeSpec,
    PlatformSpec,
    ServingSpec,
    TeamSpec,
    TrainingSpec,
    builds_image,
    image_pullers,
    is_production,
    resolve_pool,
)
from components.cluster import Cluster
from components.common import Taint, merge_tags
from components.contracts import (
    ClusterArgs,
    DataLakeArgs,
    ImageSource,
    NodePoolArgs,
    PrivateNetwork,
    RegistryArgs,
    adls_account_name,
)
from components.kubernetes.fabric import pod_security_level
from components.kubernetes.tenancy import (
    EgressRule,
    ServiceEgress,
    Tenancy,
    TenancyArgs,
    cluster_quotas,
    team_namespace,
)
from components.registry import ImageRegistry
from workloads.deploy.inference_service import SERVING_IMAGE, InferenceServiceArgs, serving_selector
from workloads.deploy.training_job import TrainingJobArgs, training_image
from workloads.serving.settings import DEFAULT_PORT
from workloads.training.config import TrainConfig


class Refusals:
    """Component refusals (InputError) gathered over the whole program, each under the stack path of the entry
    that made the component (`workloads[3]: train-x.image: ...`), so one `validate` reports all of them; the
    program goes on with what could be built and raises them together at the end."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    @contextmanager
    def at(self, stack_path: str) -> Iterator[None]:
        try:
            yield
        except InputError as err:
            self.problems += [
                Problem(f"{stack_path}: {p.path}" if p.path else stack_path, p.message) for p in err.problems
            ]

    def raise_if_any(self) -> None:
        if self.problems:
            raise InputError(self.problems)


def missing_secrets(platform: PlatformSpec, is_set: Callable[[str], bool]) -> list[Problem]:
    """The stack config keys the platform reads secrets from (on-prem kubeconfigs, the on-prem registry's pull
    secret) that the stack's config does not set, each under the stack path naming it: checked before anything
    is built, so the error names the field, not just the key."""
    named = [
        (join_path("clusters", i, "kubeconfig"), c.kubeconfig, "< kubeconfig")
        for i, c in enumerate(platform.clusters)
        if c.kubeconfig
    ]
    named += [
        (join_path("registries", i, "pull_secret"), r.pull_secret, "< config.json")
        for i, r in enumerate(platform.registries)
        if r.pull_secret
    ]
    return [
        Problem(path, f"{key!r} is not in the stack's config; set it: pulumi config set --secret {key} {source}")
        for path, key, source in named
        if not is_set(key)
    ]


def cluster_args(
    cluster: ClusterSpec, platform: PlatformSpec, stack: str, secret: Callable[[str], pulumi.Input[str]] | None = None
) -> ClusterArgs:
    """Typed args for one cluster. `secret(key)` reads an on-prem kubeconfig from stack config."""
    pools = []
    for pool in cluster.node_pools:
        resolved = resolve_pool(cluster, pool)
        pools.append(
            NodePoolArgs(
                name=pool.name,
                shape=resolved.shape,
                min_nodes=resolved.nodes.min,
                max_nodes=resolved.nodes.max,
                capacity_type=pool.capacity.type,
                reservation_id=pool.capacity.id,
                zone=pool.zone,
                labels=dict(pool.labels),
                taints=tuple(Taint(t.key, t.value, t.effect) for t in pool.taints),
                node_selector=dict(pool.node_selector),
                ami_family=pool.ami_family,
            )
        )
    kubeconfig = secret(cluster.kubeconfig) if (cluster.kubeconfig and secret) else None
    return ClusterArgs(
        cloud=cluster.cloud,
        region=cluster.region,
        zones=tuple(cluster.zones),
        kubernetes_version=cluster.kubernetes_version,
        node_pools=tuple(pools),
        network_cidr=cluster.network.cidr,
        vpc_id=cluster.network.vpc_id,
        subnet_ids=tuple(cluster.network.subnet_ids),
        private_dns_zone_ids=dict(cluster.network.private_dns_zones),
        public_access_cidrs=tuple(cluster.api.public_cidrs),
        kubeconfig=kubeconfig,
        tags=merge_tags({"environment": stack}, platform.tags, cluster.tags),
        protect_stateful=is_production(stack) if cluster.protect is None else cluster.protect,
    )


def lake_egress(platform: PlatformSpec, cloud: str) -> tuple[EgressRule, ...]:
    """HTTPS egress to the lakes a cluster's pods can use (those on its cloud), from their `egress_cidrs`."""
    cidrs = sorted({cidr for lake in platform.data_lakes if lake.cloud == cloud for cidr in lake.egress_cidrs})
    return tuple(EgressRule(cidr=cidr) for cidr in cidrs)


def service_egress(team: TeamSpec, platform: PlatformSpec, cluster: str) -> tuple[ServiceEgress, ...]:
    """The model servers on `cluster` of other teams that list `team` as a client."""
    return tuple(
        ServiceEgress(namespace=team_namespace(work.team), pod_labels=serving_selector(work.name), port=DEFAULT_PORT)
        for work in platform.workloads
        if isinstance(work, ServingSpec) and work.cluster == cluster and team.team in work.client_teams
    )


def tenancy_args(
    team: TeamSpec,
    cluster: Cluster,
    kubernetes_version: str,
    stack: str,
    egress: tuple[EgressRule, ...] = (),
    services: tuple[ServiceEgress, ...] = (),
    image_pull_secret: pulumi.Input[str] | None = None,
) -> TenancyArgs | None:
    """The team's tenancy on one cluster, or None when the team asks for none of its accelerators
    in this environment (a team lives only where its GPUs/TPUs are). `image_pull_secret`: the cluster's, from
    `registry_pull_secrets`."""
    quotas = cluster_quotas(team.quotas.get(stack, {}), cluster.platform.accelerator_classes)
    if not quotas:
        return None
    # Training pods on TCPXO or RDMA/InfiniBand pools need host access PSA `restricted` refuses: the namespace
    # is then admitted by the platform layer's fabric admission policy (restricted plus exactly that wiring).
    levels = {
        pod_security_level(pool.shape) for pool in cluster.node_pools.values() if pool.shape.accelerator in quotas
    }
    return TenancyArgs(
        provider=cluster.kubernetes_provider,
        team=team.team,
        namespace=team_namespace(team.team),
        kubernetes_version=kubernetes_version,
        accelerator_classes=cluster.platform.accelerator_classes,
        quotas=quotas,
        tags=cluster.tags,
        fabric_admission="privileged" in levels,
        egress=egress,
        service_egress=services,
        image_pull_secret=image_pull_secret,
    )


def lake_url(lake: DataLakeSpec, stack: str) -> str:
    """Where pods reach a lake: s3://<bucket>, gs://<bucket>, or the ADLS account's DFS endpoint
    https://<account>.dfs.core.windows.net, whose first path segment is the zone container."""
    if lake.cloud == "azure":
        return f"https://{lake_bucket(lake, stack)}.dfs.core.windows.net"
    scheme = {"aws": "s3", "gcp": "gs", "onprem": "s3"}[lake.cloud]
    return f"{scheme}://{lake_bucket(lake, stack)}"


def lake_bucket(lake: DataLakeSpec, stack: str) -> str:
    """The physical name: the spec's, else `<name>-<stack>` for buckets and a stack-hashed ADLS account name."""
    if lake.bucket:
        return lake.bucket
    return adls_account_name(lake.name) if lake.cloud == "azure" else f"{lake.name}-{stack}"


def data_lake_args(
    lake: DataLakeSpec, platform: PlatformSpec, stack: str, networks: tuple[PrivateNetwork, ...]
) -> DataLakeArgs:
    """Typed args for one lake. ADLS lakes are reached through private endpoints in `networks`: every Azure
    cluster's (`distinct_networks`), with the privatelink zones the lakes before made in them."""
    return DataLakeArgs(
        cloud=lake.cloud,
        region=lake.region,
        zones=tuple(lake.zones),
        endpoint=lake.endpoint,
        bucket_name=lake_bucket(lake, stack),
        object_lock=lake.object_lock,
        protect=is_production(stack) if lake.protect is None else lake.protect,
        tags=merge_tags({"environment": stack}, platform.tags),
        private_networks=networks if lake.cloud == "azure" else (),
    )


def workload_image(work: TrainingSpec | ServingSpec, cluster: ClusterSpec) -> ImageSource:
    """The image built from this repository that a workload runs when it names none."""
    if isinstance(work, ServingSpec):
        return SERVING_IMAGE
    pool = next(p for p in cluster.node_pools if p.name == work.pool)
    return training_image(resolve_pool(cluster, pool).shape)


def registry_args(
    platform: PlatformSpec, stack: str, clusters: Mapping[str, Cluster], context: str
) -> dict[str, RegistryArgs]:
    """Registry name → args: one registry per cloud whose workloads run the built images, holding exactly the
    images they run, pulled by exactly their clusters; placed where the spec's `registries` entry says, else
    in the region of the first of those clusters."""
    specs = {c.name: c for c in platform.clusters}
    settings = {r.cloud: r for r in platform.registries}
    registries = {}
    for cloud, names in image_pullers(platform).items():
        images = {
            workload_image(w, specs[w.cluster]): None
            for w in platform.workloads
            if builds_image(w) and w.cluster in names
        }
        setting = settings.get(cloud)
        protect = setting.protect if setting and setting.protect is not None else is_production(stack)
        registries[f"{cloud}-images"] = RegistryArgs(
            cloud=cloud,
            region=None if cloud == "onprem" else (setting and setting.region) or specs[names[0]].region,
            url=setting.url if setting else None,
            images=tuple(sorted(images, key=lambda image: image.repository)),
            context=context,
            pullers=tuple(clusters[n].adapter for n in names if n in clusters),
            push_cidrs=tuple(setting.push_cidrs) if setting else (),
            protect=protect,
            tags=merge_tags({"environment": stack}, platform.tags),
        )
    return registries


def registry_pull_secrets(
    platform: PlatformSpec, secret: Callable[[str], pulumi.Input[str]]
) -> dict[str, pulumi.Input[str]]:
    """Cluster name → the Docker config its team namespaces pull the built images with: the on-prem registry's
    `pull_secret` (read once through `secret(key)`) for each on-prem cluster that runs them."""
    key = next((r.pull_secret for r in platform.registries if r.cloud == "onprem" and r.pull_secret), None)
    if key is None:
        return {}
    config = secret(key)
    return {cluster: config for cluster in image_pullers(platform).get("onprem", [])}


def workload_image_ref(
    work: TrainingSpec | ServingSpec, cluster: ClusterSpec, registries: Mapping[Cloud, ImageRegistry]
) -> pulumi.Input[str]:
    """What the workload's pods run: its own image, else the digest its cloud's registry pushed."""
    if work.image is not None:
        return work.image
    return registries[cluster.cloud].refs[workload_image(work, cluster).repository]


def lake_grants(team: TeamSpec, platform: PlatformSpec, cluster: ClusterSpec) -> list[tuple[str, Access, str]]:
    """(lake, access, prefix) a team's identity on `cluster` gets: write on its requested prefixes in every lake
    of the cluster's cloud, write on the checkpoints and models of its training jobs there, read on the models
    its servers there load. Sorted and without repeats (a lake refuses a repeated grant)."""
    grants: set[tuple[str, Access, str]] = {
        (lake.name, "write", prefix)
        for lake in platform.data_lakes
        if lake.cloud == cluster.cloud
        for prefix in team.lake_prefixes
    }
    for work in platform.workloads:
        if work.team != team.team or work.cluster != cluster.name:
            continue
        if isinstance(work, TrainingSpec):
            grants |= {
                (work.lake, "write", f"checkpoints/{work.name}/"),
                (work.lake, "write", f"models/{work.name}/"),
                (work.lake, "read", "raw/"),
                (work.lake, "read", "curated/"),
            }
        else:
            grants.add((work.lake, "read", work.model))
    return sorted(grants)


def training_job_args(
    work: TrainingSpec, platform: PlatformSpec, cluster: Cluster, tenancy: Tenancy, stack: str, image: pulumi.Input[str]
) -> TrainingJobArgs:
    """The JobSet of one training workload, queued in its team's LocalQueue for the pool's accelerator."""
    pool = cluster.node_pools[work.pool]
    lake = next(d for d in platform.data_lakes if d.name == work.lake)
    train = TrainConfig(
        recipe=work.recipe,
        steps=work.steps,
        lake=lake_url(lake, stack),
        run=work.name,
        checkpoint_every=work.checkpoint_every,
        endpoint_url=lake.endpoint,
    )
    return TrainingJobArgs(
        provider=cluster.kubernetes_provider,
        namespace=tenancy.namespace,
        queue=tenancy.local_queues[pool.shape.accelerator],
        service_account=tenancy.service_account,
        pool=work.pool,
        shape=pool.shape,
        train=train,
        nodes=work.nodes,
        pool_taints=pool.taints,
        tags=cluster.tags,
        image=image,
        cpu=work.cpu,
        memory_gib=work.memory_gib,
    )


def inference_service_args(
    work: ServingSpec,
    platform: PlatformSpec,
    cluster: Cluster,
    tenancy: Tenancy,
    stack: str,
    image: pulumi.Input[str],
) -> InferenceServiceArgs:
    """The Deployment, Service, HPA and PDB of one serving workload, reading its model from the lake."""
    pool = cluster.node_pools[work.pool]
    lake = next(d for d in platform.data_lakes if d.name == work.lake)
    return InferenceServiceArgs(
        provider=cluster.kubernetes_provider,
        namespace=tenancy.namespace,
        service_account=tenancy.service_account,
        model_url=f"{lake_url(lake, stack)}/{work.model}",
        shape=pool.shape,
        pool=work.pool,
        pool_taints=pool.taints,
        min_replicas=work.replicas.min,
        max_replicas=work.replicas.max,
        client_namespaces=tuple(team_namespace(t) for t in work.client_teams) + tuple(work.client_namespaces),
        lake_endpoint_url=lake.endpoint,
        tags=cluster.tags,
        image=image,
    )
