"""A VPC for EKS: private node subnets behind NAT, public subnets for load balancers, flow logs."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.aws.iam import allow, policy, service_trust
from components.common import ArgProblems, merge_tags

MAX_ZONES = 6
"""No region has more usable zones; the subnet plan below has room for seven."""


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
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags merged into every resource's tags."""


def carve_subnets(cidr: str, zones: int) -> list[tuple[str, str]]:
    """(private, public) CIDRs per zone: private subnets are the VPC's first eighths (large, since VPC CNI
    gives every pod an address); public subnets are 1/64ths carved from the last eighth."""
    network = ipaddress.ip_network(cidr)
    eighths = list(network.subnets(prefixlen_diff=3))
    publics = list(eighths[-1].subnets(prefixlen_diff=3))
    return [(str(eighths[i]), str(publics[i])) for i in range(zones)]


def _check(name: str, args: NetworkArgs) -> None:
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
    problems.raise_if_any()


class Network(pulumi.ComponentResource):
    """VPC with private subnets (nodes, internal load balancers), public subnets (internet-facing load
    balancers, NAT), an S3 gateway endpoint and flow logs to CloudWatch Logs."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: dict[str, pulumi.Output[str]]
    """Zone → private subnet id."""
    public_subnet_ids: dict[str, pulumi.Output[str]]
    """Zone → public subnet id."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:aws:Network", name, None, opts)
        _check(name, args)
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

        self._flow_logs(name, args, vpc, tags("flow-logs"))

        self.vpc_id = vpc.id
        self.private_subnet_ids = {zone: subnet.id for zone, subnet in private.items()}
        self.public_subnet_ids = {zone: subnet.id for zone, subnet in public.items()}
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "privateSubnetIds": self.private_subnet_ids,
                "publicSubnetIds": self.public_subnet_ids,
            }
        )

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
