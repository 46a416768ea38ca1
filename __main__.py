"""The Pulumi program. The only place that reads stack config; the same under `pulumi up` and
`aiinfra plan` (which runs it under Pulumi's mock runtime)."""

from pathlib import Path

import pulumi

from aiinfra.errors import InputError
from aiinfra.program import cluster_args, tenancy_args
from aiinfra.spec import build_platform
from aiinfra.stack import read_team_files
from components.cluster import Cluster
from components.kubernetes.tenancy import Tenancy

config = pulumi.Config("aiinfra")
stack = pulumi.get_stack()
try:
    platform = build_platform(config.get_object("platform"), read_team_files(Path(__file__).parent / "stacks"))
except InputError as err:
    raise pulumi.RunError(f"invalid stack config:\n{err}") from None

clusters = {
    spec.name: Cluster(spec.name, cluster_args(spec, platform, stack, secret=config.require_secret))
    for spec in platform.clusters
}

for spec in platform.clusters:
    cluster = clusters[spec.name]
    for team in platform.teams:
        args = tenancy_args(team, cluster, spec.kubernetes_version, stack)
        if args is not None:
            Tenancy(
                f"{spec.name}-{team.team}", args, pulumi.ResourceOptions(parent=cluster, depends_on=[cluster.platform])
            )

pulumi.export("clusters", {name: {"cloud": c.cloud, "endpoint": c.endpoint} for name, c in clusters.items()})
pulumi.export("kubeconfigs", {name: c.kubeconfig for name, c in clusters.items() if c.kubeconfig is not None})
