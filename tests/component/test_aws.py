"""The AWS adapter under the plan's mock engine, driven through the provider-neutral `Cluster`."""

from __future__ import annotations

import base64
import json
import re
import tomllib
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pytest

from aiinfra.core.catalog import machines, resolve
from aiinfra.core.errors import InputError
from components.aws.device_plugins import EFA_DEVICE_PLUGIN, NVIDIA_DEVICE_PLUGIN
from components.aws.eks import EksCluster
from components.aws.instance_types import SPOT_STAND_INS, spot_stand_ins
from components.aws.network import Network, NetworkArgs
from components.aws.node_group import ManagedNodeGroup, ManagedNodeGroupArgs, render_user_data
from components.cluster import Cluster
from components.common import Taint
from components.contracts import SYSTEM_NAMESPACE, ClusterArgs, NodePoolArgs
from tests.conftest import of_type, one

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
STACK_TAGS = {"cost-center": "ml-platform"}
LT = "aws:ec2/launchTemplate:LaunchTemplate"
NG = "aws:eks/nodeGroup:NodeGroup"
EKS = "aws:eks/cluster:Cluster"
SUBNET = "aws:ec2/subnet:Subnet"
SG = "aws:ec2/securityGroup:SecurityGroup"
PG = "aws:ec2/placementGroup:PlacementGroup"
ROLE = "aws:iam/role:Role"
ATTACH = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ADDON = "aws:eks/addon:Addon"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
VPCE = "aws:ec2/vpcEndpoint:VpcEndpoint"
RELEASE = "kubernetes:helm.sh/v3:Release"


def pool(name: str = "gpu", accelerator: str = "H100:8", **kw) -> NodePoolArgs:
    return NodePoolArgs(name=name, shape=resolve("aws", accelerator), **{"max_nodes": 4, **kw})


def system_pool() -> NodePoolArgs:
    return pool("system", "cpu", min_nodes=2)


def cluster_args(*pools: NodePoolArgs, **kw) -> ClusterArgs:
    return ClusterArgs(
        **{
            "cloud": "aws",
            "region": "us-east-1",
            "zones": ZONES,
            "kubernetes_version": "1.33",
            "node_pools": pools,
            "tags": STACK_TAGS,
            **kw,
        }
    )


@pytest.fixture
def plan(run_mocked):
    """Plan a cluster named "c" with the given pools and cluster arguments."""
    return lambda *pools, **kw: run_mocked(lambda: Cluster("c", cluster_args(*pools, **kw)))


@dataclass(frozen=True, kw_only=True)
class BottlerocketPool(NodePoolArgs):
    """A pool asking for Bottlerocket the way NodePoolArgs will once it has the field."""

    ami_family: str = "bottlerocket"


def adapter_program(*pools: NodePoolArgs, **kw) -> EksCluster:
    """What the facade does with the adapter, plus the call it makes once every pool is built."""
    args = cluster_args(*pools, **kw)
    adapter = EksCluster("c", args)
    for p in args.node_pools:
        adapter.build_node_pool(f"c-{p.name}", p, pulumi.ResourceOptions(parent=adapter))
    provider = k8s.Provider("c-k8s", kubeconfig=adapter.kubeconfig)
    namespace = k8s.core.v1.Namespace(
        "c-system", metadata={"name": SYSTEM_NAMESPACE}, opts=pulumi.ResourceOptions(provider=provider)
    )
    adapter.build_node_software(provider, namespace)
    return adapter


@pytest.fixture
def plan_software(run_mocked):
    """Plan the adapter for cluster "c" with the given pools, device plugins included."""
    return lambda *pools, **kw: run_mocked(lambda: adapter_program(*pools, **kw))


def releases(run) -> dict[str, object]:
    """Helm releases by chart name."""
    return {r.inputs["chart"]: r for r in of_type(run, RELEASE)}


def node_group_args(pool_args: NodePoolArgs, **kw) -> ManagedNodeGroupArgs:
    return ManagedNodeGroupArgs(
        pool=pool_args,
        cluster_name="c-test",
        node_role_arn="arn:aws:iam::123456789012:role/nodes",
        subnet_ids=["subnet-0aaa"],
        vpc_id="vpc-0existing",
        cluster_security_group_id="sg-0cluster",
        **kw,
    )


def named(run, type_: str, name: str):
    found = [r for r in of_type(run, type_) if r.name == name]
    assert len(found) == 1, f"expected one {type_} named {name}, found {[r.name for r in of_type(run, type_)]}"
    return found[0]


def policy_of(text: str) -> list[dict]:
    return json.loads(text)["Statement"]


# ------------------------------------------------------------------ EFA


@pytest.mark.parametrize(
    ("accelerator", "machine", "interfaces"),
    [
        ("H100:8", "p5.48xlarge", 32),
        ("H200:8", "p5en.48xlarge", 16),
        ("A100-40GB:8", "p4d.24xlarge", 4),
    ],
)
def test_efa_launch_template_has_one_interface_per_network_card(plan, accelerator, machine, interfaces):
    run = plan(pool(accelerator=accelerator))
    nics = named(run, LT, "c-gpu-lt").inputs["networkInterfaces"]
    assert named(run, NG, "c-gpu-ng").inputs["instanceTypes"] == [machine]
    assert len(nics) == interfaces
    assert [n["networkCardIndex"] for n in nics] == list(range(interfaces))
    assert (nics[0]["deviceIndex"], nics[0]["interfaceType"]) == (0, "efa")
    assert {(n["deviceIndex"], n["interfaceType"]) for n in nics[1:]} == {(1, "efa-only")}
    cluster_sg = one(run, EKS).outputs["vpcConfig"]["clusterSecurityGroupId"]
    efa_sg = named(run, SG, "c-gpu-efa").id
    assert all(n["securityGroups"] == [cluster_sg, efa_sg] for n in nics)


def test_efa_security_group_allows_all_traffic_only_within_itself(plan):
    run = plan(pool())
    efa_sg = named(run, SG, "c-gpu-efa")
    rules = [
        r
        for r in run.resources
        if r.type.startswith("aws:vpc/securityGroup") and r.inputs["securityGroupId"] == efa_sg.id
    ]
    assert sorted(r.type.rsplit(":", 1)[1] for r in rules) == ["SecurityGroupEgressRule", "SecurityGroupIngressRule"]
    for rule in rules:
        assert rule.inputs["ipProtocol"] == "-1"
        assert rule.inputs["referencedSecurityGroupId"] == efa_sg.id
        assert "cidrIpv4" not in rule.inputs
    assert "ingress" not in efa_sg.inputs and "egress" not in efa_sg.inputs


def test_efa_pool_is_pinned_to_its_zone(plan):
    run = plan(pool("first"), pool("second", zone="us-east-1b"), system_pool())
    subnet = {zone: named(run, SUBNET, f"c-network-private-{zone}").id for zone in ZONES}
    assert named(run, NG, "c-first-ng").inputs["subnetIds"] == [subnet["us-east-1a"]]
    assert named(run, NG, "c-second-ng").inputs["subnetIds"] == [subnet["us-east-1b"]]
    assert named(run, NG, "c-system-ng").inputs["subnetIds"] == list(subnet.values())


def test_efa_pool_gets_a_cluster_placement_group(plan):
    run = plan(pool())
    group = one(run, PG)
    assert group.inputs["strategy"] == "cluster"
    assert named(run, LT, "c-gpu-lt").inputs["placement"] == {"groupName": group.outputs["name"]}


def test_reservation_pool_targets_its_reservation_instead_of_a_placement_group(plan):
    run = plan(pool(capacity_type="reservation", reservation_id="cr-0123456789abcdef0", zone="us-east-1c"))
    lt = named(run, LT, "c-gpu-lt").inputs
    assert of_type(run, PG) == []
    assert "placement" not in lt
    assert lt["capacityReservationSpecification"] == {
        "capacityReservationTarget": {"capacityReservationId": "cr-0123456789abcdef0"}
    }
    assert "instanceMarketOptions" not in lt
    assert named(run, NG, "c-gpu-ng").inputs["capacityType"] == "ON_DEMAND"


def test_capacity_block_pool_uses_the_capacity_block_market(plan):
    run = plan(pool(capacity_type="capacity-block", reservation_id="cr-0fedcba9876543210", zone="us-east-1a"))
    lt = named(run, LT, "c-gpu-lt").inputs
    ng = named(run, NG, "c-gpu-ng").inputs
    assert lt["instanceMarketOptions"] == {"marketType": "capacity-block"}
    assert lt["capacityReservationSpecification"]["capacityReservationTarget"] == {
        "capacityReservationId": "cr-0fedcba9876543210"
    }
    assert of_type(run, PG) == []
    assert ng["capacityType"] == "CAPACITY_BLOCK"
    # The instance type is named once: in the launch template, as Capacity Blocks require.
    assert lt["instanceType"] == "p5.48xlarge"
    assert "instanceTypes" not in ng


def test_other_pools_name_the_instance_type_on_the_node_group_only(plan):
    run = plan(pool("l4", "L4:1", capacity_type="spot"))
    assert "instanceType" not in named(run, LT, "c-l4-lt").inputs
    ng = named(run, NG, "c-l4-ng").inputs
    assert ng["instanceTypes"][0] == "g6.xlarge"  # spot stand-ins follow: see the spot tests
    assert ng["capacityType"] == "SPOT"
    assert "networkInterfaces" not in named(run, LT, "c-l4-lt").inputs
    assert of_type(run, PG) == []


# ------------------------------------------------------------------ node groups


@pytest.mark.parametrize(
    ("accelerator", "root_gib", "ami"),
    [
        ("H100:8", 200, "AL2023_x86_64_NVIDIA"),
        ("cpu", 100, "AL2023_x86_64_STANDARD"),
    ],
)
def test_launch_template_requires_imdsv2_and_encrypts_the_root_volume(plan, accelerator, root_gib, ami):
    run = plan(pool("p", accelerator))
    lt = named(run, LT, "c-p-lt").inputs
    assert lt["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 2}
    assert lt["blockDeviceMappings"] == [
        {
            "deviceName": "/dev/xvda",
            "ebs": {"volumeSize": root_gib, "volumeType": "gp3", "encrypted": "true", "deleteOnTermination": "true"},
        }
    ]
    assert {s["resourceType"] for s in lt["tagSpecifications"]} >= {"instance", "volume"}
    assert all(s["tags"]["cost-center"] == "ml-platform" for s in lt["tagSpecifications"])
    ng = named(run, NG, "c-p-ng").inputs
    assert ng["amiType"] == ami
    assert ng["launchTemplate"] == {"id": named(run, LT, "c-p-lt").id, "version": "1"}


def test_gpu_pools_are_tainted_and_labelled(plan):
    run = plan(pool(labels={"team": "vision"}, taints=(Taint("dedicated", "vision", "NoExecute"),)), system_pool())
    gpu = named(run, NG, "c-gpu-ng").inputs
    assert gpu["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"},
        {"key": "dedicated", "value": "vision", "effect": "NO_EXECUTE"},
    ]
    assert gpu["labels"] == {
        "aiinfra.dev/pool": "gpu",
        "aiinfra.dev/accelerator": "H100",
        "aiinfra.dev/fabric": "efa",
        "nvidia.com/gpu.present": "true",
        "team": "vision",
    }
    cpu = named(run, NG, "c-system-ng").inputs
    assert not cpu.get("taints")
    assert cpu["labels"] == {
        "aiinfra.dev/pool": "system",
        "aiinfra.dev/accelerator": "cpu",
        "aiinfra.dev/fabric": "none",
    }


def test_scaling_starts_at_the_minimum(plan):
    run = plan(pool(min_nodes=1, max_nodes=6))
    assert named(run, NG, "c-gpu-ng").inputs["scalingConfig"] == {"minSize": 1, "maxSize": 6, "desiredSize": 1}


def test_autoscaling_group_carries_scale_from_zero_templates(plan):
    run = plan(pool(labels={"team": "vision"}))
    asg = named(run, NG, "c-gpu-ng").outputs["resources"][0]["autoscalingGroups"][0]["name"]
    tags = {t.inputs["tag"]["key"]: t.inputs["tag"] for t in of_type(run, "aws:autoscaling/tag:Tag")}
    assert {t.inputs["autoscalingGroupName"] for t in of_type(run, "aws:autoscaling/tag:Tag")} == {asg}
    template = "k8s.io/cluster-autoscaler/node-template"
    assert tags[f"{template}/label/team"]["value"] == "vision"
    assert tags[f"{template}/label/aiinfra.dev/pool"]["value"] == "gpu"
    assert tags[f"{template}/taint/nvidia.com/gpu"]["value"] == "present:NoSchedule"
    assert tags[f"{template}/resources/nvidia.com/gpu"]["value"] == "8"
    assert tags[f"{template}/resources/vpc.amazonaws.com/efa"]["value"] == "32"
    assert not any(t["propagateAtLaunch"] for t in tags.values())


def test_local_nvme_is_striped_raid0_by_nodeadm(plan, snapshot):
    run = plan(pool(), system_pool())
    user_data = base64.b64decode(named(run, LT, "c-gpu-lt").inputs["userData"]).decode()
    assert "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig" in user_data
    assert "strategy: RAID0" in user_data
    assert user_data == snapshot
    assert "userData" not in named(run, LT, "c-system-lt").inputs  # m7i has no instance store
    assert render_user_data(raid0_local_nvme=False) is None


def test_node_role_is_shared_and_narrow(plan):
    run = plan(pool(), system_pool())
    node_role = named(run, ROLE, "c-node-role")
    trust = policy_of(node_role.inputs["assumeRolePolicy"])
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": ["sts:AssumeRole"]}]
    attached = {a.inputs["policyArn"] for a in of_type(run, ATTACH) if a.inputs["role"] == node_role.outputs["name"]}
    assert attached == {
        f"arn:aws:iam::aws:policy/{p}"
        for p in (
            "AmazonEKSWorkerNodePolicy",
            "AmazonEC2ContainerRegistryPullOnly",
            "AmazonEKS_CNI_Policy",
            "AmazonSSMManagedInstanceCore",
        )
    }
    assert {ng.inputs["nodeRoleArn"] for ng in of_type(run, NG)} == {node_role.outputs["arn"]}


# ------------------------------------------------------------------ control plane


def test_api_endpoint_is_private_by_default(plan):
    vpc_config = one(plan(), EKS).inputs["vpcConfig"]
    assert vpc_config["endpointPrivateAccess"] is True
    assert vpc_config["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc_config


def test_api_endpoint_is_public_only_to_the_given_cidrs(plan):
    vpc_config = one(plan(public_access_cidrs=("198.51.100.0/24",)), EKS).inputs["vpcConfig"]
    assert vpc_config["endpointPublicAccess"] is True
    assert vpc_config["publicAccessCidrs"] == ["198.51.100.0/24"]
    assert vpc_config["endpointPrivateAccess"] is True


def test_secrets_are_encrypted_with_a_rotating_key(plan):
    run = plan()
    key = one(run, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == 30
    assert one(run, EKS).inputs["encryptionConfig"] == {
        "provider": {"keyArn": key.outputs["arn"]},
        "resources": ["secrets"],
    }
    cluster_role = named(run, ROLE, "c-cluster-role")
    statements = policy_of(key.inputs["policy"])
    assert {s["Principal"]["AWS"] for s in statements} == {
        "arn:aws:iam::123456789012:root",
        cluster_role.outputs["arn"],
    }
    assert not any("*" in action for s in statements for action in s["Action"])
    assert one(run, "aws:kms/alias:Alias").inputs["targetKeyId"] == key.outputs["keyId"]


def test_control_plane_logs_go_to_a_retained_log_group_made_first(plan):
    run = plan()
    cluster = one(run, EKS)
    assert cluster.inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator"]
    log_group = named(run, LOG_GROUP, "c-logs")
    assert log_group.inputs["name"] == f"/aws/eks/{cluster.inputs['name']}/cluster"
    assert log_group.inputs["retentionInDays"] == 90
    assert log_group.urn in cluster.dependencies


def test_access_is_api_mode_with_an_explicit_admin_entry(plan):
    run = plan()
    cluster = one(run, EKS)
    assert cluster.inputs["accessConfig"] == {
        "authenticationMode": "API",
        "bootstrapClusterCreatorAdminPermissions": False,
    }
    entry = one(run, "aws:eks/accessEntry:AccessEntry")
    assert entry.inputs["principalArn"] == "arn:aws:iam::123456789012:user/offline-plan"
    association = one(run, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert association.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    assert association.inputs["accessScope"] == {"type": "cluster"}


def test_cluster_role_trusts_only_eks(plan):
    run = plan()
    role = named(run, ROLE, "c-cluster-role")
    assert policy_of(role.inputs["assumeRolePolicy"]) == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }
    ]
    assert {a.inputs["policyArn"] for a in of_type(run, ATTACH) if a.inputs["role"] == role.outputs["name"]} == {
        "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
    }
    assert one(run, EKS).inputs["roleArn"] == role.outputs["arn"]


def test_irsa_oidc_provider_trusts_the_cluster_issuer(plan):
    run = plan()
    issuer = one(run, EKS).outputs["identities"][0]["oidcs"][0]["issuer"]
    oidc = one(run, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["url"] == issuer
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    adapter = one(run, "aiinfra:aws:EksCluster").outputs
    assert adapter["oidcIssuerUrl"] == issuer
    assert adapter["oidcProviderArn"] == oidc.outputs["arn"]


def test_managed_addons_and_coredns_after_the_system_pool(plan):
    run = plan(system_pool(), pool())
    addons = {a.inputs["addonName"]: a for a in of_type(run, ADDON)}
    assert set(addons) == {"vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns"}
    assert all(a.inputs["resolveConflictsOnCreate"] == "OVERWRITE" for a in addons.values())
    assert named(run, NG, "c-system-ng").urn in addons["coredns"].dependencies
    # Node groups wait for the networking add-ons (through the cluster name they are given).
    ng_deps = named(run, NG, "c-gpu-ng").property_dependencies["clusterName"]
    assert {addons[a].urn for a in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")} <= set(ng_deps)


def test_no_managed_coredns_without_a_pool_that_can_run_it(plan):
    run = plan(pool())
    assert "coredns" not in {a.inputs["addonName"] for a in of_type(run, ADDON)}
    assert any("CoreDNS" in d.message for d in run.diagnostics if d.severity == "warning")


def test_kubeconfig_authenticates_with_aws_eks_get_token(plan):
    run = plan()
    cluster = one(run, EKS)
    config = json.loads(one(run, "pulumi:providers:kubernetes").inputs["kubeconfig"]["value"])
    assert config["clusters"][0]["cluster"] == {
        "server": cluster.outputs["endpoint"],
        "certificate-authority-data": cluster.outputs["certificateAuthority"]["data"],
    }
    user = config["users"][0]["user"]["exec"]
    assert user["command"] == "aws"
    assert user["args"][:4] == ["eks", "get-token", "--cluster-name", cluster.inputs["name"]]
    assert user["args"][4:6] == ["--region", "us-east-1"]


def test_every_aws_resource_uses_the_regional_provider_with_stack_tags(plan):
    run = plan(pool(), system_pool())
    provider = one(run, "pulumi:providers:aws")
    assert provider.inputs["region"] == "us-east-1"
    assert json.loads(provider.inputs["defaultTags"]) == {
        "tags": {"managed-by": "aiinfra", **STACK_TAGS, "aiinfra-cluster": "c"}
    }
    aws_resources = [r for r in run.resources if r.type.startswith("aws:")]
    assert {r.provider.split("::")[-2] for r in aws_resources} == {provider.name}
    untaggable = {
        "RouteTableAssociation",
        "RolePolicy",
        "RolePolicyAttachment",
        "Alias",
        "Tag",
        "AccessPolicyAssociation",
    }
    for r in aws_resources:
        if r.type.rsplit(":", 1)[1] not in untaggable:
            assert r.inputs["tags"]["cost-center"] == "ml-platform", r.name
            assert r.inputs["tags"]["managed-by"] == "aiinfra", r.name


# ------------------------------------------------------------------ network


def test_new_network_has_private_and_public_subnets_per_zone(plan):
    run = plan()
    vpc = one(run, "aws:ec2/vpc:Vpc").inputs
    assert (vpc["cidrBlock"], vpc["enableDnsSupport"], vpc["enableDnsHostnames"]) == ("10.0.0.0/16", True, True)
    private = [named(run, SUBNET, f"c-network-private-{z}").inputs for z in ZONES]
    public = [named(run, SUBNET, f"c-network-public-{z}").inputs for z in ZONES]
    assert [s["cidrBlock"] for s in private] == ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"]
    assert [s["cidrBlock"] for s in public] == ["10.0.224.0/22", "10.0.228.0/22", "10.0.232.0/22"]
    assert [s["availabilityZone"] for s in private] == list(ZONES)
    assert all(s["tags"]["kubernetes.io/role/internal-elb"] == "1" for s in private)
    assert all(s["tags"]["kubernetes.io/role/elb"] == "1" for s in public)
    cluster_subnets = one(run, EKS).inputs["vpcConfig"]["subnetIds"]
    assert cluster_subnets == [named(run, SUBNET, f"c-network-private-{z}").id for z in ZONES]


def test_single_nat_by_default_and_s3_endpoint_on_private_routes(plan):
    run = plan()
    nat = one(run, "aws:ec2/natGateway:NatGateway")
    assert nat.inputs["subnetId"] == named(run, SUBNET, "c-network-public-us-east-1a").id
    private_rts = [r for r in of_type(run, "aws:ec2/routeTable:RouteTable") if "private" in r.name]
    assert [rt.inputs["routes"] for rt in private_rts] == [[{"cidrBlock": "0.0.0.0/0", "natGatewayId": nat.id}]] * 3
    endpoint = named(run, VPCE, "c-network-s3").inputs
    assert endpoint["serviceName"] == "com.amazonaws.us-east-1.s3"
    assert endpoint["vpcEndpointType"] == "Gateway"
    assert sorted(endpoint["routeTableIds"]) == sorted(rt.id for rt in private_rts)
    public_rt = named(run, "aws:ec2/routeTable:RouteTable", "c-network-public-rt").inputs["routes"]
    assert public_rt == [
        {"cidrBlock": "0.0.0.0/0", "gatewayId": one(run, "aws:ec2/internetGateway:InternetGateway").id}
    ]


def test_nat_per_zone_routes_each_zone_through_its_own_gateway(run_mocked):
    run = run_mocked(lambda: Network("n", NetworkArgs(zones=ZONES, nat_per_zone=True)))
    nats = {n.name.removeprefix("n-nat-"): n for n in of_type(run, "aws:ec2/natGateway:NatGateway")}
    assert set(nats) == set(ZONES)
    for zone in ZONES:
        assert nats[zone].inputs["subnetId"] == named(run, SUBNET, f"n-public-{zone}").id
        routes = named(run, "aws:ec2/routeTable:RouteTable", f"n-private-rt-{zone}").inputs["routes"]
        assert routes == [{"cidrBlock": "0.0.0.0/0", "natGatewayId": nats[zone].id}]


def test_flow_logs_write_only_to_their_log_group(plan):
    run = plan()
    log_group = named(run, LOG_GROUP, "c-network-flow-logs")
    flow_log = one(run, "aws:ec2/flowLog:FlowLog").inputs
    assert (flow_log["trafficType"], flow_log["logDestination"]) == ("ALL", log_group.outputs["arn"])
    role = named(run, ROLE, "c-network-flow-logs")
    assert flow_log["iamRoleArn"] == role.outputs["arn"]
    trust = policy_of(role.inputs["assumeRolePolicy"])[0]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    (statement,) = policy_of(one(run, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    arn = log_group.outputs["arn"]
    assert statement["Resource"] == [arn, f"{arn}:log-stream:*"]
    assert not any("*" in action for action in statement["Action"])


def test_existing_vpc_is_used_as_is(plan):
    run = plan(pool(zone="us-east-1b"), vpc_id="vpc-0existing", subnet_ids=("subnet-0aaa", "subnet-0bbb"))
    for type_ in ("aws:ec2/vpc:Vpc", SUBNET, "aws:ec2/natGateway:NatGateway", "aiinfra:aws:Network"):
        assert of_type(run, type_) == []
    assert one(run, EKS).inputs["vpcConfig"]["subnetIds"] == ["subnet-0aaa", "subnet-0bbb"]
    assert named(run, SG, "c-api").inputs["vpcId"] == "vpc-0existing"
    assert named(run, SG, "c-gpu-efa").inputs["vpcId"] == "vpc-0existing"
    # The offline answer to the zone lookup is the first subnet; a real one filters by zone.
    assert named(run, NG, "c-gpu-ng").inputs["subnetIds"] == ["subnet-0aaa"]


def test_zones_default_to_the_first_three_available(run_mocked):
    args = ClusterArgs(cloud="aws", region="eu-west-1", kubernetes_version="1.33")
    run = run_mocked(lambda: Cluster("c", args))
    zones = sorted(s.inputs["availabilityZone"] for s in of_type(run, SUBNET) if "private" in s.name)
    assert zones == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("pool_kw", "path", "words"),
    [
        ({"capacity_type": "spot"}, "c.node_pools.gpu.capacity_type", "placement group"),
        ({"capacity_type": "capacity-block", "zone": "us-east-1a"}, "c.node_pools.gpu.reservation_id", "required"),
        ({"capacity_type": "reservation", "reservation_id": "cr-1"}, "c.node_pools.gpu.zone", "reservation's zone"),
        ({"reservation_id": "cr-1"}, "c.node_pools.gpu.reservation_id", "only reservation and capacity-block"),
        ({"zone": "us-east-1f"}, "c.node_pools.gpu.zone", "not one of the cluster's zones"),
        ({"capacity_type": "preemptible"}, "c.node_pools.gpu.capacity_type", "choose one of"),
        ({"taints": (Taint("a", "b", "NoFly"),)}, "c.node_pools.gpu.taints[0].effect", "choose one of"),
        ({"max_nodes": 0}, "c.node_pools.gpu.max_nodes", "at least 1"),
    ],
)
def test_pool_problems_are_input_errors_with_paths(plan, pool_kw, path, words):
    with pytest.raises(InputError) as err:
        plan(pool(**pool_kw))
    (problem,) = err.value.problems
    assert problem.path == path
    assert words in problem.message


def test_all_pool_problems_are_reported_together(plan):
    with pytest.raises(InputError) as err:
        plan(pool("a", capacity_type="spot"), pool("b", zone="eu-west-1a"))
    assert [p.path for p in err.value.problems] == ["c.node_pools.a.capacity_type", "c.node_pools.b.zone"]


def test_efa_pool_on_existing_subnets_needs_a_zone(run_mocked):
    args = ClusterArgs(
        cloud="aws",
        region="us-east-1",
        kubernetes_version="1.33",
        node_pools=(pool(),),
        vpc_id="vpc-0existing",
        subnet_ids=("subnet-0aaa",),
    )
    with pytest.raises(InputError) as err:
        run_mocked(lambda: Cluster("c", args))
    assert [p.path for p in err.value.problems] == ["c.node_pools.gpu.zone"]


def test_cluster_zones_must_be_in_the_region(plan):
    with pytest.raises(InputError) as err:
        plan(zones=("us-east-1a", "eu-west-1b"))
    assert [str(p) for p in err.value.problems] == ["c.zones: 'eu-west-1b' — not a zone of us-east-1"]


def test_region_is_required(run_mocked):
    with pytest.raises(InputError) as err:
        run_mocked(lambda: Cluster("c", ClusterArgs(cloud="aws", kubernetes_version="1.33")))
    assert [p.path for p in err.value.problems] == ["c.region"]


@pytest.mark.parametrize(
    ("network_kw", "path"),
    [
        ({"cidr": "10.0.0.0/24"}, "n.cidr"),
        ({"cidr": "not-a-cidr"}, "n.cidr"),
        ({"zones": tuple(f"us-east-1{z}" for z in "abcdefg")}, "n.zones"),
        ({"interface_endpoints": ("ecr.api", "s3")}, "n.interface_endpoints[1]"),
        ({"interface_endpoints": ("ECR API",)}, "n.interface_endpoints[0]"),
        ({"interface_endpoints": ("sts", "sts")}, "n.interface_endpoints"),
    ],
)
def test_network_problems_are_input_errors(run_mocked, network_kw, path):
    with pytest.raises(InputError) as err:
        run_mocked(lambda: Network("n", NetworkArgs(**{"zones": ZONES, **network_kw})))
    assert [p.path for p in err.value.problems] == [path]


# ------------------------------------------------------------------ interface endpoints


def test_interface_endpoints_reach_ecr_sts_and_ec2_from_the_private_subnets(plan):
    run = plan()
    private = [named(run, SUBNET, f"c-network-private-{z}").id for z in ZONES]
    group = named(run, SG, "c-network-endpoints")
    endpoints = {e.inputs["serviceName"]: e.inputs for e in of_type(run, VPCE) if e.name != "c-network-s3"}
    assert set(endpoints) == {f"com.amazonaws.us-east-1.{s}" for s in ("ecr.api", "ecr.dkr", "sts", "ec2")}
    for endpoint in endpoints.values():
        assert endpoint["vpcEndpointType"] == "Interface"
        assert endpoint["privateDnsEnabled"] is True
        assert endpoint["subnetIds"] == private
        assert endpoint["securityGroupIds"] == [group.id]
        assert endpoint["vpcId"] == one(run, "aws:ec2/vpc:Vpc").id
    (rule,) = [
        r
        for r in of_type(run, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == group.id
    ]
    assert {k: rule.inputs[k] for k in ("ipProtocol", "fromPort", "toPort", "cidrIpv4")} == {
        "ipProtocol": "tcp",
        "fromPort": 443,
        "toPort": 443,
        "cidrIpv4": "10.0.0.0/16",
    }
    network = one(run, "aiinfra:aws:Network").outputs["interfaceEndpointIds"]
    assert set(network) == {"ecr.api", "ecr.dkr", "sts", "ec2"}


def test_interface_endpoints_are_chosen_by_the_caller(run_mocked):
    run = run_mocked(
        lambda: Network("n", NetworkArgs(zones=ZONES, cidr="10.8.0.0/16", interface_endpoints=("eks-auth",)))
    )
    (endpoint,) = [e.inputs for e in of_type(run, VPCE) if e.inputs["vpcEndpointType"] == "Interface"]
    assert endpoint["serviceName"] == "com.amazonaws.us-east-1.eks-auth"
    rule = one(run, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").inputs
    assert rule["cidrIpv4"] == "10.8.0.0/16"

    run = run_mocked(lambda: Network("n", NetworkArgs(zones=ZONES, interface_endpoints=())))
    assert [e.name for e in of_type(run, VPCE)] == ["n-s3"]
    assert of_type(run, SG) == []


# ------------------------------------------------------------------ pod identity


def test_pod_identity_associates_one_service_account_with_a_role(run_mocked):
    def program():
        adapter = EksCluster("c", cluster_args(tags=STACK_TAGS))
        adapter.pod_identity(
            "c-lake-reader",
            namespace="vision",
            service_account="trainer",
            role_arn="arn:aws:iam::123456789012:role/lake-reader",
        )

    run = run_mocked(program)
    association = one(run, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert {k: association.inputs[k] for k in ("clusterName", "namespace", "serviceAccount", "roleArn")} == {
        "clusterName": one(run, EKS).outputs["name"],
        "namespace": "vision",
        "serviceAccount": "trainer",
        "roleArn": "arn:aws:iam::123456789012:role/lake-reader",
    }
    agent = [a for a in of_type(run, ADDON) if a.inputs["addonName"] == "eks-pod-identity-agent"]
    assert agent[0].urn in association.dependencies
    assert association.provider.split("::")[-2] == one(run, "pulumi:providers:aws").name
    assert association.inputs["tags"]["cost-center"] == "ml-platform"


def test_pod_identity_trust_admits_only_that_service_account_of_that_cluster(run_mocked):
    trusts = []

    def program():
        adapter = EksCluster("c", cluster_args())
        trusts.append(adapter.pod_identity_trust("vision", "trainer"))
        pulumi.export("trust", trusts[0])

    run = run_mocked(program)
    (statement,) = policy_of(run.stack_outputs["trust"])
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert statement["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert statement["Condition"] == {
        "StringEquals": {
            "aws:RequestTag/eks-cluster-arn": one(run, EKS).outputs["arn"],
            "aws:RequestTag/kubernetes-namespace": "vision",
            "aws:RequestTag/kubernetes-service-account": "trainer",
        }
    }


def test_pod_identity_names_are_checked(run_mocked):
    def program():
        EksCluster("c", cluster_args()).pod_identity(
            "c-bad", namespace="Vision_Team", service_account="", role_arn="arn:aws:iam::123456789012:role/x"
        )

    with pytest.raises(InputError) as err:
        run_mocked(program)
    assert [p.path for p in err.value.problems] == ["c-bad.namespace", "c-bad.service_account"]


# ------------------------------------------------------------------ device plugins (Helm)


def test_gpu_cluster_gets_the_pinned_nvidia_device_plugin_after_its_gpu_pools(plan_software):
    run = plan_software(pool("l4", "L4:1"), system_pool())
    release = releases(run)["nvidia-device-plugin"]
    assert release.inputs["version"] == NVIDIA_DEVICE_PLUGIN.version
    assert re.fullmatch(r"v?\d+\.\d+\.\d+", release.inputs["version"])  # an exact version, not a range
    assert release.inputs["repositoryOpts"] == {"repo": "https://nvidia.github.io/k8s-device-plugin"}
    assert release.inputs["namespace"] == SYSTEM_NAMESPACE
    assert release.provider.split("::")[-2] == "c-k8s"
    namespace = named(run, "kubernetes:core/v1:Namespace", "c-system")
    assert namespace.urn in release.dependencies
    assert named(run, NG, "c-l4-ng").urn in release.dependencies
    assert named(run, NG, "c-system-ng").urn not in release.dependencies
    assert "aws-efa-k8s-device-plugin" not in releases(run)


def test_nvidia_device_plugin_tolerates_the_gpu_pools_and_runs_only_on_them(plan_software):
    dedicated = Taint("dedicated", "vision", "NoExecute")
    run = plan_software(pool("l4", "L4:1", taints=(dedicated,)), pool("l4x4", "L4:4"), system_pool())
    values = releases(run)["nvidia-device-plugin"].inputs["values"]
    assert values["tolerations"] == [
        {"key": "CriticalAddonsOnly", "operator": "Exists"},
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Equal", "value": "vision", "effect": "NoExecute"},
    ]
    (term,) = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [
        {"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]},
        {"key": "aiinfra.dev/pool", "operator": "In", "values": ["l4", "l4x4"]},
    ]
    # The nodes carry what the affinity asks for.
    for name in ("l4", "l4x4"):
        labels = named(run, NG, f"c-{name}-ng").inputs["labels"]
        assert (labels["nvidia.com/gpu.present"], labels["aiinfra.dev/pool"]) == ("true", name)


def test_efa_device_plugin_only_on_clusters_with_efa_pools(plan_software, snapshot):
    run = plan_software(pool("gpu", "H100:8"), pool("l4", "L4:1"), system_pool())
    release = releases(run)["aws-efa-k8s-device-plugin"]
    assert release.inputs["version"] == EFA_DEVICE_PLUGIN.version
    assert release.inputs["repositoryOpts"] == {"repo": "https://aws.github.io/eks-charts"}
    assert release.inputs["namespace"] == SYSTEM_NAMESPACE
    values = release.inputs["values"]
    assert values["supportedInstanceLabels"] == {
        "keys": ["node.kubernetes.io/instance-type"],
        "values": ["p5.48xlarge"],
    }
    assert values["nodeSelector"] == {"aiinfra.dev/fabric": "efa"}
    assert values["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert named(run, NG, "c-gpu-ng").urn in release.dependencies
    assert named(run, NG, "c-l4-ng").urn not in release.dependencies
    assert named(run, NG, "c-gpu-ng").inputs["labels"]["aiinfra.dev/fabric"] == "efa"
    assert {chart: r.inputs["values"] for chart, r in releases(run).items()} == snapshot

    without_efa = plan_software(pool("l4", "L4:1"), system_pool())
    assert set(releases(without_efa)) == {"nvidia-device-plugin"}


def test_cpu_only_cluster_gets_no_device_plugins(plan_software):
    run = plan_software(system_pool(), pool("batch", "cpu", min_nodes=0))
    assert of_type(run, RELEASE) == []


def test_bottlerocket_gpu_pools_keep_their_own_nvidia_plugin(plan_software):
    efa_on_bottlerocket = BottlerocketPool(name="gpu", shape=resolve("aws", "H100:8"), max_nodes=4)
    run = plan_software(efa_on_bottlerocket, pool("l4", "L4:1"), system_pool())
    assert named(run, NG, "c-gpu-ng").inputs["amiType"] == "BOTTLEROCKET_x86_64_NVIDIA"
    nvidia = releases(run)["nvidia-device-plugin"]
    (term,) = nvidia.inputs["values"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert term["matchExpressions"][1]["values"] == ["l4"]
    assert named(run, NG, "c-gpu-ng").urn not in nvidia.dependencies
    # Bottlerocket ships no EFA device plugin: the EFA pool still gets one.
    assert named(run, NG, "c-gpu-ng").urn in releases(run)["aws-efa-k8s-device-plugin"].dependencies

    only_bottlerocket = plan_software(efa_on_bottlerocket, system_pool())
    assert set(releases(only_bottlerocket)) == {"aws-efa-k8s-device-plugin"}


def test_kubernetes_objects_wait_for_the_deployers_cluster_access(plan):
    run = plan()
    association = one(run, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    provider = one(run, "pulumi:providers:kubernetes")
    assert association.urn in provider.property_dependencies["kubeconfig"]


# ------------------------------------------------------------------ spot


def test_spot_gpu_pool_adds_stand_ins_with_the_same_gpus(plan):
    run = plan(pool("l4", "L4:1", capacity_type="spot"), pool("l4x4", "L4:4", capacity_type="spot"))
    assert named(run, NG, "c-l4-ng").inputs["instanceTypes"] == ["g6.xlarge", "g6.2xlarge", "g6.4xlarge"]
    assert named(run, NG, "c-l4x4-ng").inputs["instanceTypes"] == ["g6.12xlarge", "g6.24xlarge"]


def test_spot_cpu_pool_adds_same_size_families(plan):
    run = plan(pool("batch", "cpu", capacity_type="spot"))
    assert named(run, NG, "c-batch-ng").inputs["instanceTypes"] == [
        "m7i.2xlarge",
        "m6a.2xlarge",
        "m6i.2xlarge",
        "m7a.2xlarge",
    ]


def test_on_demand_pools_name_only_their_machine_type(plan):
    run = plan(pool("l4", "L4:1"), pool("batch", "cpu"))
    assert named(run, NG, "c-l4-ng").inputs["instanceTypes"] == ["g6.xlarge"]
    assert named(run, NG, "c-batch-ng").inputs["instanceTypes"] == ["m7i.2xlarge"]


def test_spot_stand_ins_offer_the_same_accelerators_and_at_least_the_same_host():
    known = {m.machine_type: m for m in machines("aws")} | {t.machine_type: t for t in SPOT_STAND_INS}
    offered = 0
    for machine in machines("aws"):
        accelerator = "cpu" if machine.accelerator == "cpu" else f"{machine.accelerator}:{machine.count}"
        shape = resolve("aws", accelerator, machine_type=machine.machine_type)
        for stand_in in map(known.get, spot_stand_ins(shape)):
            offered += 1
            assert (stand_in.accelerator, stand_in.count) == (machine.accelerator, machine.count), stand_in
            assert stand_in.vcpus >= machine.vcpus and stand_in.memory_gib >= machine.memory_gib, stand_in
            assert stand_in.nvme_disks > 0 or shape.local_nvme_disks == 0, stand_in
    assert offered >= 5
    assert spot_stand_ins(resolve("aws", "H100:8")) == []  # EFA pools: one type, one placement group


# ------------------------------------------------------------------ bottlerocket


def test_bottlerocket_gpu_nodes_stripe_nvme_with_ephemeral_storage(run_mocked, snapshot):
    args = node_group_args(pool("l4", "L4:1"), ami_family="bottlerocket")
    run = run_mocked(lambda: ManagedNodeGroup("c-l4", args))
    assert one(run, NG).inputs["amiType"] == "BOTTLEROCKET_x86_64_NVIDIA"
    lt = one(run, LT).inputs
    encrypted = {"volumeType": "gp3", "encrypted": "true", "deleteOnTermination": "true"}
    assert lt["blockDeviceMappings"] == [
        {"deviceName": "/dev/xvda", "ebs": encrypted},
        {"deviceName": "/dev/xvdb", "ebs": {"volumeSize": 200, **encrypted}},
    ]
    settings = base64.b64decode(lt["userData"]).decode()
    assert "MIME-Version" not in settings and "NodeConfig" not in settings
    command = tomllib.loads(settings)["settings"]["bootstrap-commands"]["aiinfra-ephemeral-storage"]
    assert command == {
        "commands": [
            ["apiclient", "ephemeral-storage", "init"],
            [
                "apiclient",
                "ephemeral-storage",
                "bind",
                "--dirs",
                "/var/lib/containerd",
                "/var/lib/kubelet",
                "/var/log/pods",
            ],
        ],
        "essential": True,
        "mode": "always",
    }
    assert settings == snapshot
    assert lt["metadataOptions"]["httpTokens"] == "required"


def test_bottlerocket_cpu_nodes_use_the_standard_variant_without_user_data(run_mocked):
    args = node_group_args(pool("batch", "cpu"), ami_family="bottlerocket", root_volume_gib=50)
    run = run_mocked(lambda: ManagedNodeGroup("c-batch", args))
    assert one(run, NG).inputs["amiType"] == "BOTTLEROCKET_x86_64"
    lt = one(run, LT).inputs
    assert "userData" not in lt
    assert lt["blockDeviceMappings"][1]["ebs"]["volumeSize"] == 50
    assert render_user_data(raid0_local_nvme=False, ami_family="bottlerocket") is None


def test_unknown_ami_family_is_an_input_error(run_mocked):
    args = node_group_args(pool("l4", "L4:1"), ami_family="ubuntu")
    with pytest.raises(InputError) as err:
        run_mocked(lambda: ManagedNodeGroup("c-l4", args))
    assert [p.path for p in err.value.problems] == ["c-l4.ami_family"]
