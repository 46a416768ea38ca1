"""The AWS adapter of `Cluster`: an EKS cluster with secrets encryption, control-plane logs, IRSA and Pod
Identity, managed add-ons and API-mode access, on a new `Network` or an existing VPC; its pools' device plugins
as pinned Helm releases."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from aiinfra.core.catalog import Fabric
from aiinfra.core.catalog.data import DEFAULT_ZONE_COUNT
from aiinfra.core.vocab import AmiFamily
from components.aws.device_plugins import (
    EFA_DEVICE_PLUGIN,
    NVIDIA_DEVICE_PLUGIN,
    HelmChart,
    efa_device_plugin_values,
    nvidia_device_plugin_values,
)
from components.aws.iam import allow, managed_policy, pod_identity_trust, policy, service_trust
from components.aws.network import Network, NetworkArgs
from components.aws.node_group import ManagedNodeGroup, ManagedNodeGroupArgs, pool_problems
from components.common import ArgProblems, merge_tags
from components.contracts import ClusterAdapter, ClusterArgs, NodePoolArgs

CLUSTER_LOG_TYPES = ("api", "audit", "authenticator")
CLUSTER_LOG_RETENTION_DAYS = 90
NETWORKING_ADDONS = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
POD_IDENTITY_AGENT = "eks-pod-identity-agent"
ADDON_CONFIGURATION = {"vpc-cni": {"enableNetworkPolicy": "true"}}
"""The VPC CNI enforces NetworkPolicy (the team namespaces' default deny) only with its network policy agent on
(VPC CNI 1.14+; https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy.html, checked 2026-12)."""
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# IAM trusts the CA of EKS issuers itself and no longer checks this thumbprint, but the API still takes
# one. This is the root CA thumbprint commonly used for EKS issuers (valid until 2037), not fetched live.
EKS_OIDC_ROOT_CA_THUMBPRINT = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonEKS_CNI_Policy",
    "AmazonSSMManagedInstanceCore",
)
"""PullOnly (not ReadOnly, which also lists and describes every repository) is what the EKS node role guide
names since 2024: the kubelet needs a registry token and image pulls, from the stack's repositories (their
policies admit the node role) and from AWS's own add-on repositories in other accounts, which only an
identity policy can allow (https://docs.aws.amazon.com/eks/latest/userguide/create-node-role.html)."""
KEY_ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)
"""Administration and use of the secrets key by the account's IAM principals (each still needs an IAM
policy allowing it), listed rather than `kms:*`."""
KEY_USER_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey")
"""What the EKS cluster role needs for envelope encryption of secrets."""


def _physical_name(name: str) -> str:
    """EKS cluster names: letters, digits, '-' and '_', at most 100; the stack keeps stacks apart."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{name}-{pulumi.get_stack()}")[:100]


def kubeconfig(cluster_name: str, region: str, endpoint: str, ca_data: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token`, as pulumi-eks and `aws eks
    update-kubeconfig` write it (JSON, which is YAML)."""
    get_token = ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"]
    exec_auth = {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws", "args": get_token}
    cluster = {"server": endpoint, "certificate-authority-data": ca_data}
    context = {"cluster": cluster_name, "user": cluster_name}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "contexts": [{"name": cluster_name, "context": context}],
        "current-context": cluster_name,
        "users": [{"name": cluster_name, "user": {"exec": exec_auth}}],
    }
    return json.dumps(config, indent=2)


class _BuiltPool(NamedTuple):
    pool: NodePoolArgs
    ami_family: AmiFamily
    group: ManagedNodeGroup


def _system_pool(args: ClusterArgs) -> NodePoolArgs | None:
    """The first pool that can run CoreDNS from the start: CPU, untainted, at least one node."""
    return next((p for p in args.node_pools if not p.shape.is_gpu and not p.taints and p.min_nodes >= 1), None)


class EksCluster(ClusterAdapter):
    """EKS control plane, its network (new or existing), node IAM role and managed add-ons."""

    provider: aws.Provider
    cluster: aws.eks.Cluster
    node_role: aws.iam.Role
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]
    device_plugins: dict[str, k8s.helm.v3.Release]
    """Chart name → its release, once `build_node_software` ran; only the plugins the pools need."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:aws:EksCluster", name, None, opts)
        problems = ArgProblems(name)
        problems.check(bool(args.region), "region", "required on aws")
        problems.raise_if_any()
        self._name_prefix = name
        self._node_groups: dict[str, _BuiltPool] = {}
        self.device_plugins = {}
        self.cluster_name = _physical_name(name)
        self.region: str = args.region  # type: ignore[assignment]  # checked above
        self.tags = merge_tags(args.tags)
        self.provider = aws.Provider(
            f"{name}-provider",
            region=self.region,
            default_tags={"tags": self.tags},
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        invoke = pulumi.InvokeOptions(provider=self.provider)
        partition = aws.get_partition(opts=invoke).partition
        caller = aws.get_caller_identity(opts=invoke)

        existing_vpc = bool(args.vpc_id)
        if args.zones:
            self.zones = tuple(args.zones)
            pool_zones = self.zones
        else:
            available = tuple(aws.get_availability_zones(state="available", opts=invoke).names)
            self.zones = available[:DEFAULT_ZONE_COUNT]
            # Existing subnets may sit in any zone of the region.
            pool_zones = available if existing_vpc else self.zones
        self._cluster_problems(problems, args, pool_zones, existing_vpc)
        problems.raise_if_any()

        if existing_vpc:
            self.vpc_id: pulumi.Input[str] = args.vpc_id  # type: ignore[assignment]  # existing_vpc: not None
            self._subnet_ids = list(args.subnet_ids)
            self._subnets_by_zone: dict[str, pulumi.Input[str]] = {}
            vpc_cidr = aws.ec2.get_vpc_output(
                id=args.vpc_id, opts=pulumi.InvokeOutputOptions(provider=self.provider)
            ).cidr_block
        else:
            self.network = Network(
                f"{name}-network", NetworkArgs(zones=self.zones, cidr=args.network_cidr, tags=self.tags), child
            )
            self.vpc_id = self.network.vpc_id
            self._subnets_by_zone = dict(self.network.private_subnet_ids)
            self._subnet_ids = list(self._subnets_by_zone.values())
            vpc_cidr = args.network_cidr

        cluster_role = aws.iam.Role(
            f"{name}-cluster-role",
            assume_role_policy=service_trust("eks.amazonaws.com", actions=("sts:AssumeRole", "sts:TagSession")),
            tags=self.tags,
            opts=child,
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy",
            role=cluster_role.name,
            policy_arn=managed_policy(partition, "AmazonEKSClusterPolicy"),
            opts=child,
        )

        key = aws.kms.Key(
            f"{name}-secrets",
            description=f"Envelope encryption of Kubernetes secrets in EKS cluster {self.cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            # In a key policy, Resource "*" means this key and nothing else.
            policy=cluster_role.arn.apply(
                lambda role_arn: policy(
                    {
                        **allow(KEY_ADMIN_ACTIONS, ["*"], sid="AccountAdministers"),
                        "Principal": {"AWS": f"arn:{partition}:iam::{caller.account_id}:root"},
                    },
                    {**allow(KEY_USER_ACTIONS, ["*"], sid="ClusterEncryptsSecrets"), "Principal": {"AWS": role_arn}},
                )
            ),
            tags=self.tags,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect_stateful)),
        )
        aws.kms.Alias(f"{name}-secrets", name=f"alias/eks/{self.cluster_name}", target_key_id=key.key_id, opts=child)

        # EKS creates this group on first log write, without retention, unless it already exists.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/eks/{self.cluster_name}/cluster",
            retention_in_days=CLUSTER_LOG_RETENTION_DAYS,
            tags=self.tags,
            opts=child,
        )

        api_sg = aws.ec2.SecurityGroup(
            f"{name}-api",
            vpc_id=self.vpc_id,
            tags=self.tags,
            opts=child,
            description=f"Private API endpoint of EKS cluster {self.cluster_name}, reachable from its VPC",
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-api-https",
            security_group_id=api_sg.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=vpc_cidr,
            tags=self.tags,
            opts=child,
        )

        public = bool(args.public_access_cidrs)
        self.cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=self.cluster_name,
            version=args.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config={
                "subnet_ids": self._subnet_ids,
                "security_group_ids": [api_sg.id],
                "endpoint_private_access": True,
                "endpoint_public_access": public,
                "public_access_cidrs": list(args.public_access_cidrs) if public else None,
            },
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": False},
            encryption_config={"provider": {"key_arn": key.arn}, "resources": ["secrets"]},
            enabled_cluster_log_types=list(CLUSTER_LOG_TYPES),
            tags=self.tags,
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[log_group, cluster_policy]),
        )
        self.cluster_security_group_id = self.cluster.vpc_config.cluster_security_group_id
        admin = self._admin_access(name, partition, caller.arn, child, invoke)

        self.oidc_issuer_url = self.cluster.identities[0].oidcs[0].issuer
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=self.oidc_issuer_url,
            client_id_lists=["sts.amazonaws.com"],
            thumbprint_lists=[EKS_OIDC_ROOT_CA_THUMBPRINT],
            tags=self.tags,
            opts=child,
        )
        self.oidc_provider_arn = oidc.arn

        addons = [self._addon(name, addon, child) for addon in NETWORKING_ADDONS]
        self._pod_identity_agent = addons[NETWORKING_ADDONS.index(POD_IDENTITY_AGENT)]
        # Node groups take the cluster name from here, so they wait for the networking add-ons.
        self._cluster_name_after_addons = pulumi.Output.all(self.cluster.name, *[a.arn for a in addons]).apply(
            lambda values: values[0]
        )
        system_pool = _system_pool(args)
        self._coredns_pool = system_pool.name if system_pool else None
        if system_pool is None:
            pulumi.log.warn(
                f"cluster {name}: no untainted CPU pool with min_nodes >= 1, so the managed CoreDNS add-on is not "
                "installed (it would never become healthy); EKS's self-managed CoreDNS stays in place",
                self,
            )

        self.node_role = aws.iam.Role(
            f"{name}-node-role", assume_role_policy=service_trust("ec2.amazonaws.com"), tags=self.tags, opts=child
        )
        for policy_name in NODE_POLICIES:
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy_name}",
                role=self.node_role.name,
                policy_arn=managed_policy(partition, policy_name),
                opts=child,
            )

        self.endpoint = self.cluster.endpoint
        # Through the admin association, so nothing uses this kubeconfig before its identity may.
        self.kubeconfig = pulumi.Output.all(
            self.cluster.endpoint, self.cluster.certificate_authority.data, admin.id
        ).apply(lambda v: kubeconfig(self.cluster_name, self.region, v[0], v[1]))
        self.register_outputs(
            {
                "clusterName": self.cluster.name,
                "endpoint": self.endpoint,
                "oidcProviderArn": self.oidc_provider_arn,
                "oidcIssuerUrl": self.oidc_issuer_url,
                "nodeRoleArn": self.node_role.arn,
            }
        )

    def _cluster_problems(
        self, problems: ArgProblems, args: ClusterArgs, pool_zones: tuple[str, ...], existing_vpc: bool
    ) -> None:
        for zone in args.zones:
            problems.check(zone.startswith(self.region), ("zones",), f"{zone!r} — not a zone of {self.region}")
        for pool in args.node_pools:
            path = ("node_pools", pool.name)
            pool_problems(problems, path, pool)
            if pool.zone is not None:
                problems.check(
                    pool.zone in pool_zones,
                    (*path, "zone"),
                    f"{pool.zone!r} — not one of the cluster's zones {', '.join(pool_zones)}",
                )
            elif pool.shape.fabric == Fabric.EFA and existing_vpc and not args.zones:
                problems.check(
                    False,
                    (*path, "zone"),
                    (
                        "required: EFA nodes share one zone, and the zones of the existing subnets are unknown "
                        "here; give the pool (or the cluster) its zone"
                    ),
                )

    def _admin_access(
        self, name: str, partition: str, caller_arn: str, child: pulumi.ResourceOptions, invoke: pulumi.InvokeOptions
    ) -> aws.eks.AccessPolicyAssociation:
        """Cluster-admin access for the identity running Pulumi, as an access entry that can be seen and
        removed (unlike `bootstrap_cluster_creator_admin_permissions`). Pulumi needs it to manage the
        cluster's Kubernetes objects."""
        # An assumed-role session cannot be an access entry principal; its role can.
        principal = aws.iam.get_session_context(arn=caller_arn, opts=invoke).issuer_arn
        entry = aws.eks.AccessEntry(
            f"{name}-deployer", cluster_name=self.cluster.name, principal_arn=principal, tags=self.tags, opts=child
        )
        return aws.eks.AccessPolicyAssociation(
            f"{name}-deployer-admin",
            cluster_name=self.cluster.name,
            principal_arn=entry.principal_arn,
            policy_arn=f"arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
            access_scope={"type": "cluster"},
            opts=child,
        )

    def _addon(self, name: str, addon: str, opts: pulumi.ResourceOptions) -> aws.eks.Addon:
        return aws.eks.Addon(
            f"{name}-{addon}",
            cluster_name=self.cluster.name,
            addon_name=addon,
            configuration_values=json.dumps(ADDON_CONFIGURATION[addon]) if addon in ADDON_CONFIGURATION else None,
            # Take over the self-managed copies EKS installs at creation; keep user edits on upgrade.
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="PRESERVE",
            tags=self.tags,
            opts=opts,
        )

    def _pool_subnets(self, pool: NodePoolArgs) -> pulumi.Input[Sequence[pulumi.Input[str]]]:
        """All private subnets, or the one zone's for pools pinned to a zone (EFA pools always are)."""
        zone = pool.zone or (self.zones[0] if pool.shape.fabric == Fabric.EFA else None)
        if zone is None:
            return self._subnet_ids
        if zone in self._subnets_by_zone:
            return [self._subnets_by_zone[zone]]
        found = aws.ec2.get_subnets_output(
            # The output form of the invoke resolves the subnet ids' Outputs before it runs.
            filters=cast(
                "list[aws.ec2.GetSubnetsFilterArgsDict]",
                [
                    {"name": "subnet-id", "values": self._subnet_ids},
                    {"name": "availability-zone", "values": [zone]},
                ],
            ),
            opts=pulumi.InvokeOutputOptions(provider=self.provider),
        ).ids

        def require(ids: list[str]) -> list[str]:
            if not ids:
                raise pulumi.RunError(f"pool {pool.name}: none of the cluster's subnets is in zone {zone}")
            return ids

        return found.apply(require)

    def build_node_pool(self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions) -> None:
        group_args = ManagedNodeGroupArgs(
            pool=args,
            cluster_name=self._cluster_name_after_addons,
            node_role_arn=self.node_role.arn,
            subnet_ids=self._pool_subnets(args),
            vpc_id=self.vpc_id,
            cluster_security_group_id=self.cluster_security_group_id,
            # NodePoolArgs has no AMI choice yet (components/cluster.py); until it has, pools run AL2023.
            ami_family=args.ami_family,
            tags=self.tags,
        )
        group = ManagedNodeGroup(
            name, group_args, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=self.provider))
        )
        self._node_groups[args.name] = _BuiltPool(args, group_args.ami_family, group)
        if args.name == self._coredns_pool:
            self._addon(
                self._name_prefix,
                "coredns",
                pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[group.node_group]),
            )

    def build_node_software(self, kubernetes_provider: k8s.Provider, system_namespace: k8s.core.v1.Namespace) -> None:
        """The device plugins the built pools need, as pinned Helm releases in the system namespace: the NVIDIA
        device plugin when a GPU pool runs AL2023 (Bottlerocket's NVIDIA AMI runs its own), the EFA device plugin
        when a pool has EFA. Nothing on a cluster without such pools.

        Call it once, after every pool is built: each release waits for the node groups it serves (and, through
        them, for the networking add-ons), and its values name exactly those pools.
        """
        built = list(self._node_groups.values())
        namespace = system_namespace.metadata.apply(lambda meta: meta.name)
        gpu = [b for b in built if b.pool.shape.is_gpu and b.ami_family == "al2023"]
        efa = [b for b in built if b.pool.shape.fabric == Fabric.EFA]
        if gpu:
            values = nvidia_device_plugin_values([b.pool for b in gpu])
            self._device_plugin(NVIDIA_DEVICE_PLUGIN, values, gpu, kubernetes_provider, namespace)
        if efa:
            values = efa_device_plugin_values([b.pool for b in efa])
            self._device_plugin(EFA_DEVICE_PLUGIN, values, efa, kubernetes_provider, namespace)

    def _device_plugin(
        self,
        chart: HelmChart,
        values: dict[str, Any],
        served: list[_BuiltPool],
        provider: k8s.Provider,
        namespace: pulumi.Input[str | None],
    ) -> None:
        self.device_plugins[chart.name] = k8s.helm.v3.Release(
            f"{self._name_prefix}-{chart.name}",
            name=chart.name,
            chart=chart.name,
            version=chart.version,
            repository_opts={"repo": chart.repository},
            namespace=namespace,
            values=values,
            opts=pulumi.ResourceOptions(
                parent=self, provider=provider, depends_on=[b.group.node_group for b in served]
            ),
        )

    def pod_identity_trust(self, namespace: str, service_account: str) -> pulumi.Output[str]:
        """The trust policy for a role that EKS Pod Identity may give to `namespace/service_account` of this
        cluster and nothing else; pair it with `pod_identity`."""
        return self.cluster.arn.apply(
            lambda arn: pod_identity_trust(cluster_arn=arn, namespace=namespace, service_account=service_account)
        )

    def pod_identity(
        self,
        name: str,
        *,
        namespace: str,
        service_account: str,
        role_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> aws.eks.PodIdentityAssociation:
        """Give pods running as `namespace/service_account` the credentials of `role_arn` through EKS Pod
        Identity (the role must trust it: see `pod_identity_trust`). The association waits for the Pod Identity
        agent, so pods created after it find the agent running. Defaults to a child of this cluster."""
        problems = ArgProblems(name)
        problems.check(
            len(namespace) <= 63 and bool(_DNS_LABEL_RE.match(namespace)),
            "namespace",
            f"{namespace!r} — not a Kubernetes namespace name (lower-case letters, digits, '-'; at most 63)",
        )
        problems.check(
            len(service_account) <= 253 and bool(_DNS_SUBDOMAIN_RE.match(service_account)),
            "service_account",
            f"{service_account!r} — not a Kubernetes service account name",
        )
        problems.raise_if_any()
        return aws.eks.PodIdentityAssociation(
            name,
            cluster_name=self.cluster.name,
            namespace=namespace,
            service_account=service_account,
            role_arn=role_arn,
            tags=self.tags,
            opts=pulumi.ResourceOptions.merge(
                pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[self._pod_identity_agent]),
                opts,
            ),
        )
