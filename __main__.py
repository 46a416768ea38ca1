"""The Pulumi program. The only place that reads stack config; the same under `pulumi up` and
`aiinfra plan` (which runs it under Pulumi's mock runtime)."""

from dataclasses import replace
from pathlib import Path

import pulumi

from aiinfra.core.errors import InputError
from aiinfra.core.vocab import Cloud
from aiinfra.program import (
    Refusals,
    cluster_args,
    data_lake_args,
    inference_service_args,
    lake_egress,
    lake_grants,
    missing_secrets,
    registry_args,
    registry_pull_secrets,
    service_egress,
    tenancy_args,
    training_job_args,
    workload_image_ref,
)
from aiinfra.spec import TrainingSpec, build_platform
from aiinfra.stack import read_team_files, stack_names
from components.cluster import Cluster
from components.contracts import distinct_networks
from components.datalake import DataLake
from components.identity import WorkloadIdentity, WorkloadIdentityArgs
from components.kubernetes.tenancy import Tenancy, team_namespace
from components.registry import ImageRegistry
from workloads.deploy.inference_service import InferenceService
from workloads.deploy.training_job import TrainingJob

config = pulumi.Config("aiinfra")
stack = pulumi.get_stack()
project_dir = Path(__file__).parent
try:
    stacks_dir = project_dir / "stacks"
    platform = build_platform(
        config.get_object("platform"), read_team_files(stacks_dir), stack=stack, stacks=stack_names(stacks_dir)
    )
except InputError as err:
    raise pulumi.RunError(f"invalid stack config:\n{err}") from None

missing = missing_secrets(platform, lambda key: config.get_secret(key) is not None)
if missing:
    raise InputError(missing)

refusals = Refusals()
clusters: dict[str, Cluster] = {}
for i, spec in enumerate(platform.clusters):
    with refusals.at(f"clusters[{i}]"):
        clusters[spec.name] = Cluster(spec.name, cluster_args(spec, platform, stack, secret=config.require_secret))
lakes: dict[str, DataLake] = {}
# ADLS lakes get private endpoints in every Azure cluster's network, each in the zones the lake before linked.
networks = distinct_networks(cluster.adapter.private_network for cluster in clusters.values())
for i, spec in enumerate(platform.data_lakes):
    with refusals.at(f"data_lakes[{i}]"):
        lakes[spec.name] = DataLake(spec.name, data_lake_args(spec, platform, stack, networks))
        networks = lakes[spec.name].adapter.linked_networks or networks
# The workload images, built from this checkout and pushed to a registry in each cloud that runs them.
registries: dict[Cloud, ImageRegistry] = {}
for name, args in registry_args(platform, stack, clusters, str(project_dir)).items():
    with refusals.at(f"registries ({args.cloud})"):
        registries[args.cloud] = ImageRegistry(name, args)

# Each team, on each cluster with the accelerators it asks for: an identity, its lake grants, its tenancy.
tenancies: dict[tuple[str, str], Tenancy] = {}
pull_secrets = registry_pull_secrets(platform, config.require_secret)
for i, spec in enumerate(platform.clusters):
    if spec.name not in clusters:
        continue  # refused above
    cluster = clusters[spec.name]
    egress = lake_egress(platform, spec.cloud)
    for team in platform.teams:
        services = service_egress(team, platform, spec.name)
        args = tenancy_args(
            team, cluster, spec.kubernetes_version, stack, egress, services, pull_secrets.get(spec.name)
        )
        if args is None:
            continue
        if lake_grants(team, platform, spec) and not egress:
            pulumi.log.warn(
                f"team {team.team} on {spec.name}: its namespace denies egress and no {spec.cloud} lake lists "
                "egress_cidrs, so its pods cannot reach the lake; add data_lakes[].egress_cidrs",
                cluster,
            )
        with refusals.at(f"clusters[{i}] (team {team.team})"):
            identity = WorkloadIdentity(
                f"{spec.name}-{team.team}",
                WorkloadIdentityArgs(
                    cluster=cluster,
                    namespace=team_namespace(team.team),
                    service_account=args.service_account,
                    tags=cluster.tags,
                ),
                pulumi.ResourceOptions(parent=cluster),
            )
            for lake, access, prefix in lake_grants(team, platform, spec):
                if lake in lakes:
                    lakes[lake].grant(identity, access=access, prefix=prefix)
            tenancies[spec.name, team.team] = Tenancy(
                f"{spec.name}-{team.team}",
                replace(args, service_account_annotations=identity.service_account_annotations),
                pulumi.ResourceOptions(parent=cluster, depends_on=[cluster.platform]),
            )

for i, work in enumerate(platform.workloads):
    tenancy = tenancies.get((work.cluster, work.team))
    cluster_spec = next(c for c in platform.clusters if c.name == work.cluster)
    if work.cluster not in clusters or tenancy is None or (work.image is None and cluster_spec.cloud not in registries):
        continue  # the cluster, the team's tenancy or the registry was refused above
    cluster = clusters[work.cluster]
    image = workload_image_ref(work, cluster_spec, registries)
    opts = pulumi.ResourceOptions(parent=cluster, depends_on=[tenancy])
    with refusals.at(f"workloads[{i}]"):
        if isinstance(work, TrainingSpec):
            TrainingJob(work.name, training_job_args(work, platform, cluster, tenancy, stack, image), opts)
        else:
            InferenceService(work.name, inference_service_args(work, platform, cluster, tenancy, stack, image), opts)
refusals.raise_if_any()

pulumi.export("clusters", {name: {"cloud": c.cloud, "endpoint": c.endpoint} for name, c in clusters.items()})
pulumi.export("kubeconfigs", {name: c.kubeconfig for name, c in clusters.items() if c.kubeconfig is not None})
pulumi.export("lakes", {name: lake.zone_urls for name, lake in lakes.items()})
pulumi.export("images", {cloud: registry.refs for cloud, registry in registries.items()})
