"""List prices of what clusters and lakes cost besides their machines: managed control planes, NAT, interface
endpoints, object storage. Like machine prices they move: each carries its source and month.

Regions match the machine prices (us-east-1, us-central1, East US); other regions differ by a few percent.
"""

from __future__ import annotations

from aiinfra.core.catalog.model import Price, StoragePrice

HOURS_PER_MONTH = 730
"""The month AWS, Google Cloud and Azure price pages convert hourly prices with."""

EKS_CONTROL_PLANE = Price(0.10, "https://aws.amazon.com/eks/pricing/ (standard support)", "2025-05")
GKE_CLUSTER_FEE = Price(0.10, "https://cloud.google.com/kubernetes-engine/pricing (Standard, regional)", "2025-05")
AKS_STANDARD_TIER = Price(0.10, "https://azure.microsoft.com/pricing/details/kubernetes-service/ (Standard)", "2025-05")

AWS_NAT_GATEWAY = Price(0.045, "https://aws.amazon.com/vpc/pricing/ (us-east-1, per NAT gateway-hour)", "2025-05")
AWS_PUBLIC_IPV4 = Price(0.005, "https://aws.amazon.com/vpc/pricing/ (public IPv4 address-hour)", "2025-05")
AWS_INTERFACE_ENDPOINT = Price(
    0.01, "https://aws.amazon.com/privatelink/pricing/ (us-east-1, per endpoint per zone-hour)", "2025-05"
)
AZURE_NAT_GATEWAY = Price(0.045, "https://azure.microsoft.com/pricing/details/azure-nat-gateway/", "2025-05")
AZURE_PUBLIC_IP = Price(
    0.005, "https://azure.microsoft.com/pricing/details/ip-addresses/ (Standard, static)", "2025-05"
)

# Object storage, first-tier price per GiB-month (larger volumes get cheaper tiers: an upper bound).
LAKE_STORAGE: dict[str, StoragePrice] = {
    "aws": StoragePrice(0.023, "https://aws.amazon.com/s3/pricing/ (S3 Standard, us-east-1, first 50 TB)", "2025-05"),
    "gcp": StoragePrice(0.020, "https://cloud.google.com/storage/pricing (Standard, regional us-central1)", "2025-05"),
    # The lake component's default redundancy is Standard_ZRS, hot tier, hierarchical namespace on.
    "azure": StoragePrice(
        0.023,
        "https://azure.microsoft.com/pricing/details/storage/data-lake/ (Gen2 hot, ZRS, East US, first 50 TB)",
        "2025-05",
    ),
}
