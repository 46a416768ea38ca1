"""AWS adapter: EKS clusters, their VPC and managed node groups."""

from components.aws.eks import EksCluster
from components.aws.network import Network, NetworkArgs
from components.aws.node_group import ManagedNodeGroup, ManagedNodeGroupArgs, render_user_data

__all__ = ["EksCluster", "ManagedNodeGroup", "ManagedNodeGroupArgs", "Network", "NetworkArgs", "render_user_data"]
