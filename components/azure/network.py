"""A VNet for AKS: a node subnet behind a NAT gateway, a private-endpoint subnet and the subnet the API
server is injected into (API Server VNet Integration); and the privatelink zones and private endpoints through
which such networks reach lakes and registries."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pulumi
from pulumi_azure_native import network, privatedns, resources

from components.common import ArgProblems, merge_tags
from components.contracts import PrivateNetwork

MIN_PREFIX, MAX_PREFIX = 16, 24
API_SERVER_PREFIX = 28
"""AKS asks for at least a /28 for the API server subnet."""
AKS_DELEGATION = "Microsoft.ContainerService/managedClusters"
POD_CIDR = "10.244.0.0/16"
"""Pod addresses of the Azure CNI overlay; never routed in the VNet, but must not overlap it."""
SERVICE_CIDR = "172.16.0.0/16"
DNS_SERVICE_IP = "172.16.0.10"


@dataclass(frozen=True)
class SubnetPlan:
    nodes: str
    private_endpoints: str
    api_server: str


def plan_subnets(cidr: str) -> SubnetPlan:
    """Nodes get the first quarter of the VNet (overlay pods take no VNet addresses, so a quarter is plenty);
    private endpoints a /24 (or the whole quarter if smaller) from the second; the API server a /28 from
    the third. The last quarter stays free for what the platform adds later."""
    quarters = list(ipaddress.ip_network(cidr).subnets(prefixlen_diff=2))
    endpoints = next(quarters[1].subnets(new_prefix=max(quarters[1].prefixlen, 24)))
    api_server = next(quarters[2].subnets(new_prefix=API_SERVER_PREFIX))
    return SubnetPlan(str(quarters[0]), str(endpoints), str(api_server))


def cidr_problems(problems: ArgProblems, path: str, cidr: str) -> None:
    """Record what is wrong with a VNet CIDR: not IPv4 /16../24, or overlapping the pod or service ranges."""
    try:
        net = ipaddress.ip_network(cidr)
    except ValueError as err:
        problems.check(False, path, f"{cidr!r} — not a CIDR block ({err})")
        return
    problems.check(
        net.version == 4 and MIN_PREFIX <= net.prefixlen <= MAX_PREFIX,
        path,
        f"{cidr!r} — give an IPv4 block from /{MIN_PREFIX} to /{MAX_PREFIX}",
    )
    for other, what in ((POD_CIDR, "pod"), (SERVICE_CIDR, "service")):
        problems.check(
            not net.overlaps(ipaddress.ip_network(other)),
            path,
            f"{cidr!r} — overlaps the cluster's {what} range {other}; choose another block",
        )


@dataclass(frozen=True, kw_only=True)
class VirtualNetworkArgs:
    resource_group_name: pulumi.Input[str]
    """Resource group of the VNet, its subnets and its NAT gateway."""
    location: str
    """Azure region."""
    cidr: str = "10.0.0.0/16"
    """VNet address space, IPv4 /16 to /24, apart from the pod and service ranges. Defaults to 10.0.0.0/16."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags merged into every taggable resource (subnets take none)."""


SUBNET_NAMES = ("nodes", "private-endpoints", "api-server")


class VirtualNetwork(pulumi.ComponentResource):
    """VNet with three subnets without default outbound access, and a NAT gateway with one static public IP
    for the nodes' egress.

    The subnets are declared inside the VNet: it is created in one operation (Azure serialises subnet writes
    to a VNet), and an update of the VNet cannot drop a subnet declared elsewhere.
    """

    vnet: network.VirtualNetwork
    nat_gateway: network.NatGateway
    egress_ip: network.PublicIPAddress
    node_subnet_id: pulumi.Output[str]
    private_endpoint_subnet_id: pulumi.Output[str]
    api_server_subnet_id: pulumi.Output[str]

    def __init__(self, name: str, args: VirtualNetworkArgs, opts: pulumi.ResourceOptions | None = None):
        problems = ArgProblems(name)
        cidr_problems(problems, "cidr", args.cidr)
        problems.raise_if_any()
        super().__init__("aiinfra:azure:VirtualNetwork", name, None, opts)
        tags = merge_tags(args.tags)
        child = pulumi.ResourceOptions(parent=self)
        plan = plan_subnets(args.cidr)
        common = {"resource_group_name": args.resource_group_name, "location": args.location, "tags": tags}

        self.egress_ip = network.PublicIPAddress(
            f"{name}-egress-ip",
            **common,
            sku={"name": "Standard", "tier": "Regional"},
            public_ip_allocation_method="Static",
            public_ip_address_version="IPv4",
            opts=child,
        )
        self.nat_gateway = network.NatGateway(
            f"{name}-nat",
            **common,
            sku={"name": "Standard"},
            public_ip_addresses=[{"id": self.egress_ip.id}],
            idle_timeout_in_minutes=10,
            opts=child,
        )
        nodes, endpoints, api_server = SUBNET_NAMES
        self.vnet = network.VirtualNetwork(
            f"{name}-vnet",
            **common,
            address_space={"address_prefixes": [args.cidr]},
            subnets=[
                {
                    "name": nodes,
                    "address_prefix": plan.nodes,
                    "nat_gateway": {"id": self.nat_gateway.id},
                    "default_outbound_access": False,
                },
                {
                    "name": endpoints,
                    "address_prefix": plan.private_endpoints,
                    # Network security groups and route tables apply to private endpoints too.
                    "private_endpoint_network_policies": "Enabled",
                    "default_outbound_access": False,
                },
                {
                    "name": api_server,
                    "address_prefix": plan.api_server,
                    "delegations": [{"name": "aks-api-server", "service_name": AKS_DELEGATION}],
                    "default_outbound_access": False,
                },
            ],
            opts=child,
        )
        self.node_subnet_id = self._subnet_id(nodes)
        self.private_endpoint_subnet_id = self._subnet_id(endpoints)
        self.api_server_subnet_id = self._subnet_id(api_server)
        self.register_outputs(
            {
                "vnetId": self.vnet.id,
                "nodeSubnetId": self.node_subnet_id,
                "privateEndpointSubnetId": self.private_endpoint_subnet_id,
                "apiServerSubnetId": self.api_server_subnet_id,
                "egressIp": self.egress_ip.ip_address,
            }
        )

    def _subnet_id(self, subnet: str) -> pulumi.Output[str]:
        # Azure's subnet id is the VNet's id plus /subnets/<name>; composing it keeps it known in previews.
        return self.vnet.id.apply(lambda vnet_id: f"{vnet_id}/subnets/{subnet}")


def linked_private_zone(
    name: str,
    *,
    resource_group_name: pulumi.Input[str],
    zone: str,
    vnet_id: pulumi.Input[str],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> pulumi.Output[str]:
    """A privatelink DNS zone (`privatelink.azurecr.io`, ...) linked to the VNet, so its resolvers answer with
    the private endpoints registered in it. Returns the zone's id."""
    private_zone = privatedns.PrivateZone(
        name, resource_group_name=resource_group_name, private_zone_name=zone, location="global", tags=tags, opts=opts
    )
    privatedns.VirtualNetworkLink(
        f"{name}-link",
        resource_group_name=resource_group_name,
        private_zone_name=private_zone.name,
        virtual_network={"id": vnet_id},
        registration_enabled=False,
        location="global",
        tags=tags,
        opts=opts,
    )
    return private_zone.id


def private_endpoint(
    name: str,
    *,
    resource_group_name: pulumi.Input[str],
    location: str,
    subnet_id: pulumi.Input[str],
    target_id: pulumi.Input[str],
    group: str,
    connection: str,
    zone_id: pulumi.Input[str],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> network.PrivateEndpoint:
    """A private endpoint of `target_id`'s sub-resource `group` in the subnet (through the private link
    connection named `connection`), with its address registered in the privatelink zone `zone_id`."""
    endpoint = network.PrivateEndpoint(
        name,
        resource_group_name=resource_group_name,
        location=location,
        subnet={"id": subnet_id},
        private_link_service_connections=[
            {"name": connection, "private_link_service_id": target_id, "group_ids": [group]}
        ],
        tags=dict(tags),
        opts=opts,
    )
    network.PrivateDnsZoneGroup(
        f"{name}-dns",
        resource_group_name=resource_group_name,
        private_endpoint_name=endpoint.name,
        private_dns_zone_group_name="default",
        private_dns_zone_configs=[{"name": group, "private_dns_zone_id": zone_id}],
        opts=opts,
    )
    return endpoint


def _network_zones(
    name: str,
    index: int,
    network: PrivateNetwork,
    zones: Mapping[str, str],
    *,
    resource_group_name: pulumi.Input[str],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> PrivateNetwork:
    """The `index`th network with every zone of `zones` (label → zone name) in its `dns_zone_ids`: those it names
    already, else new ones linked to its VNet (`<name>-dns[-label][-index]`). The first network's new zones go in
    `resource_group_name`; another's in a group of its own, since a group holds one zone of a name."""
    missing = {label: zone for label, zone in zones.items() if zone not in network.dns_zone_ids}
    if not missing:
        return network
    suffix = f"-{index}" if index else ""
    group = (
        resources.ResourceGroup(f"{name}-net{suffix}-rg", location=network.region, tags=dict(tags), opts=opts).name
        if index
        else resource_group_name
    )
    made = {
        zone: linked_private_zone(
            f"{name}-dns{f'-{label}' if label else ''}{suffix}",
            resource_group_name=group,
            zone=zone,
            vnet_id=network.vnet_id,  # type: ignore[arg-type]  # the facades require it where a zone is missing
            tags=tags,
            opts=opts,
        )
        for label, zone in missing.items()
    }
    return replace(network, dns_zone_ids={**network.dns_zone_ids, **made})


def endpoints_in_networks(
    name: str,
    networks: tuple[PrivateNetwork, ...],
    *,
    target_id: pulumi.Input[str],
    groups: Mapping[str, tuple[str, str]],
    resource_group_name: pulumi.Input[str],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> tuple[dict[str, network.PrivateEndpoint], tuple[PrivateNetwork, ...]]:
    """In each network's subnet, a private endpoint of `target_id` per entry of `groups` (label → its sub-resource
    and privatelink zone), `<name>-pe[-label][-index]`, registered in the network's zone. Returns the endpoints by
    `label[-index]` and the networks with the zones used. The first network keeps the names a component with one
    network had."""
    endpoints: dict[str, network.PrivateEndpoint] = {}
    linked = []
    for i, given in enumerate(networks):
        zoned = _network_zones(
            name,
            i,
            given,
            {label: zone for label, (_, zone) in groups.items()},
            resource_group_name=resource_group_name,
            tags=tags,
            opts=opts,
        )
        suffix = f"-{i}" if i else ""
        for label, (group, zone) in groups.items():
            endpoints[f"{label}{suffix}"] = private_endpoint(
                f"{name}-pe{f'-{label}' if label else ''}{suffix}",
                resource_group_name=resource_group_name,
                location=given.region,
                subnet_id=given.subnet_id,
                target_id=target_id,
                group=group,
                connection=f"{name}-{group}{suffix}",
                zone_id=zoned.dns_zone_ids[zone],
                tags=tags,
                opts=opts,
            )
        linked.append(zoned)
    return endpoints, tuple(linked)
