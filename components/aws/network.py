"""A VPC for EKS: private node subnets behind NAT, public subnets for load balancers, VPC endpoints (S3
gateway; ECR, STS and EC2 interface endpoints by default), flow logs."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from aiinfra.core.catalog.data import AWS_INTERFACE_ENDPOINTS as DEFAULT_INTERFACE_ENDPOINTS
from components.aws.iam import allow, policy, service_trust
from components.common import ArgProblems, merge_tags

MAX_ZONES = 6
"""No region has more usable zones; the subnet plan below has room for seven."""
_SERVICE_RE = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)*$")


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    zones: tuple[str, ...]
    """Availability zones; each gets one private and one public subnet. At most six."""
    cidr: str = "10.0.0.0/16"
    """VPC CIDR, /16 to /22 (public subnets get 1/64th of it and AWS subnets are /28 or larger).
    Defaults to 10.0.0.0/16."""
    nat_per_zone: bool = False
    """One NAT gateway per zone, so a zone outage cannot cut the others' egress. Defaults to False:
    a single NAT gateway in the first zone, which keeps cost low but makes egress depend on one zone."""
    flow_log_retention_days: int = 90
    """Days VPC flow logs are kept in CloudWatch Logs. Defaults to 90."""
    interface_endpoints: tuple[str, ...] = DEFAULT_INTERFACE_ENDPOINTS
    """AWS services (the part after `com.amazonaws.<region>.`) reached through interface endpoints in every
    private subnet, with private DNS on and HTTPS allowed from the VPC's CIDR only. Defaults to ECR (`ecr.api`,
    `ecr.dkr`: image pulls), STS (IRSA token exchange) and EC2 (VPC CNI's interface calls), so node bootstrap,
    image pulls and pod credentials keep working without the NAT gateway and skip its per-GB charge. Each
    endpoint costs about $0.01 per zone-hour (about $22 a month in three zones) plus data; give () for none.
    Add "eks-auth" for EKS Pod Identity in VPCs without internet egress."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags merged into every resource's tags."""


def carve_subnets(cidr: str, zones: int) -> list[tuple[str, str]]:
    """(private, public) CIDRs per zone: private subnets are the VPC's first eighths (large, since VPC CNI
    gives every pod an address); public subnets are 1/64ths carved from the last eighth."""
    network = ipaddress.ip_network(cidr)
    eighths = list(network.subnets(prefixlen_diff=3))
    publics = list(eighths[-1].subnets(prefixlen_diff=3))
    return [(str(eighths[i]), str(publics[i])) for i in range(zones)]


def network_problems(name: str, args: NetworkArgs) -> ArgProblems:
    problems = ArgProblems(name)
    problems.check(0 < len(args.zones) <= MAX_ZONES, "zones", f"{len(args.zones)} zones — give 1 to {MAX_ZONES}")
    try:
        network = ipaddress.ip_network(args.cidr)
    except ValueError as err:
        problems.check(False, "cidr", f"{args.cidr!r} — not a CIDR block ({err})")
    else:
        problems.check(
            network.version == 4 and 16 <= network.prefixlen <= 22,
            "cidr",
            f"{args.cidr!r} — give an IPv4 block from /16 to /22",
        )
    problems.check(args.flow_log_retention_days > 0, "flow_log_retention_days", "must be positive")
    for i, service in enumerate(args.interface_endpoints):
        path = ("interface_endpoints", i)
        if service == "s3":
            problems.check(False, path, "'s3' — S3 already has the (free) gateway endpoint")
        else:
            problems.check(
                bool(_SERVICE_RE.match(service)), path, f"{service!r} — give a service name such as 'ecr.api'"
            )
    repeated = sorted({s for s in args.interface_endpoints if args.interface_endpoints.count(s) > 1})
    problems.check(not repeated, "interface_endpoints", f"repeated: {', '.join(repeated)}")
    return problems


class Network(pulumi.ComponentResource):
    """VPC with private subnets (nodes, internal load balancers), public subnets (internet-facing load
    balancers, NAT), an S3 gateway endpoint, interface endpoints and flow logs to CloudWatch Logs."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: dict[str, pulumi.Output[str]]
    """Zone → private subnet id."""
    public_subnet_ids: dict[str, pulumi.Output[str]]
    """Zone → public subnet id."""
    interface_endpoint_ids: dict[str, pulumi.Output[str]]
    """Service (e.g. "ecr.api") → interface endpoint id."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:aws:Network", name, None, opts)
        network_problems(name, args).raise_if_any()
        child = pulumi.ResourceOptions(parent=self)

        def tags(role: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
            return merge_tags(args.tags, {"Name": f"{name}-{role}"}, extra)

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=tags("vpc"),
            opts=child,
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags("igw"), opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
            tags=tags("public-rt"),
            opts=child,
        )

        private: dict[str, aws.ec2.Subnet] = {}
        public: dict[str, aws.ec2.Subnet] = {}
        for zone, (private_cidr, public_cidr) in zip(
            args.zones, carve_subnets(args.cidr, len(args.zones)), strict=True
        ):
            private[zone] = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=private_cidr,
                availability_zone=zone,
                tags=tags(f"private-{zone}", {"kubernetes.io/role/internal-elb": "1"}),
                opts=child,
            )
            public[zone] = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=public_cidr,
                availability_zone=zone,
                tags=tags(f"public-{zone}", {"kubernetes.io/role/elb": "1"}),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}", subnet_id=public[zone].id, route_table_id=public_rt.id, opts=child
            )

        nat_zones = args.zones if args.nat_per_zone else args.zones[:1]
        nats: dict[str, aws.ec2.NatGateway] = {}
        for zone in nat_zones:
            eip = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags=tags(f"nat-{zone}"), opts=child)
            nats[zone] = aws.ec2.NatGateway(
                f"{name}-nat-{zone}",
                allocation_id=eip.allocation_id,
                subnet_id=public[zone].id,
                tags=tags(f"nat-{zone}"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
            )

        private_rts = []
        for zone in args.zones:
            nat = nats.get(zone) or nats[nat_zones[0]]
            rt = aws.ec2.RouteTable(
                f"{name}-private-rt-{zone}",
                vpc_id=vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
                tags=tags(f"private-rt-{zone}"),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}", subnet_id=private[zone].id, route_table_id=rt.id, opts=child
            )
            private_rts.append(rt)

        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        # Image pulls from ECR and data reads from S3 skip the NAT gateway (and its per-GB charge).
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            vpc_endpoint_type="Gateway",
            service_name=region.apply(lambda r: f"com.amazonaws.{r}.s3"),
            route_table_ids=[rt.id for rt in private_rts],
            tags=tags("s3"),
            opts=child,
        )

        self.interface_endpoint_ids = self._interface_endpoints(name, args, vpc, region, list(private.values()), tags)
        self._flow_logs(name, args, vpc, tags("flow-logs"))

        self.vpc_id = vpc.id
        self.private_subnet_ids = {zone: subnet.id for zone, subnet in private.items()}
        self.public_subnet_ids = {zone: subnet.id for zone, subnet in public.items()}
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "privateSubnetIds": self.private_subnet_ids,
                "publicSubnetIds": self.public_subnet_ids,
                "interfaceEndpointIds": self.interface_endpoint_ids,
            }
        )

    def _interface_endpoints(
        self,
        name: str,
        args: NetworkArgs,
        vpc: aws.ec2.Vpc,
        region: pulumi.Output[str],
        subnets: list[aws.ec2.Subnet],
        tags: Callable[[str], dict[str, str]],
    ) -> dict[str, pulumi.Output[str]]:
        if not args.interface_endpoints:
            return {}
        child = pulumi.ResourceOptions(parent=self)
        group = aws.ec2.SecurityGroup(
            f"{name}-endpoints",
            vpc_id=vpc.id,
            description="HTTPS from the VPC to its interface endpoints",
            tags=tags("endpoints"),
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-endpoints-https",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=args.cidr,
            tags=tags("endpoints-https"),
            opts=child,
        )
        endpoints = {}
        for service in args.interface_endpoints:
            role = service.replace(".", "-")
            endpoints[service] = aws.ec2.VpcEndpoint(
                f"{name}-{role}",
                vpc_id=vpc.id,
                vpc_endpoint_type="Interface",
                service_name=region.apply(lambda r, s=service: f"com.amazonaws.{r}.{s}"),
                # The service's public name resolves to the endpoint inside the VPC: clients need no change.
                private_dns_enabled=True,
                subnet_ids=[subnet.id for subnet in subnets],
                security_group_ids=[group.id],
                tags=tags(role),
                opts=child,
            ).id
        return endpoints

    def _flow_logs(self, name: str, args: NetworkArgs, vpc: aws.ec2.Vpc, tags: dict[str, str]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs", retention_in_days=args.flow_log_retention_days, tags=tags, opts=child
        )
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=account.apply(
                lambda acct: service_trust(
                    "vpc-flow-logs.amazonaws.com", condition={"StringEquals": {"aws:SourceAccount": acct}}
                )
            ),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            # The log group and its streams only: "<group arn>:log-stream:*" names this group's streams.
            policy=log_group.arn.apply(
                lambda group: policy(
                    allow(
                        ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                        [group, f"{group}:log-stream:*"],
                    )
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            tags=tags,
            opts=child,
        )
