"""Catalog facts: machine shapes per cloud, with the source each fact came from and when.

Prices are on-demand list prices per node-hour in the named region; they move, so every
price carries its own date. Re-check them against the source before relying on a cost figure.
"""

from __future__ import annotations

from aiinfra.core.catalog.model import Fabric, MachineShape, Offered, Price, TpuGeneration

AWS_PRICING = "https://aws.amazon.com/ec2/pricing/on-demand/ (us-east-1, Linux)"
AWS_EFA = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa.html#efa-instance-types"
GCP_PRICING = "https://cloud.google.com/compute/vm-instance-pricing (us-central1)"
GCP_GPU = "https://cloud.google.com/compute/docs/gpus"
GCP_TPU = "https://cloud.google.com/kubernetes-engine/docs/concepts/plan-tpus"
GCP_TPU_HOSTS = (
    "Compute Engine machine types (gcloud compute machine-types list, as mirrored by "
    "Cyclenerd/google-cloud-pricing-cost-calculator tools/machinetypes.csv, read 2026-12); v5e also "
    "https://cloud.google.com/tpu/docs/v5e"
)
AZURE_PRICING = "https://azure.microsoft.com/pricing/details/virtual-machines/linux/ (East US)"
AZURE_ND = "https://learn.microsoft.com/azure/virtual-machines/sizes/gpu-accelerated/nd-h100-v5-series"

# Where each GPU machine type is sold: SkyPilot's catalogs, generated from the clouds' price APIs, at
# github.com/skypilot-org/skypilot-catalog commits 001367d22a0033fac286a8c71aeac7109e431bcb (aws),
# 017e2502fb63c7a28757acd94002b2d6099d3e3d (gcp) and 098741e70562f65d7af1cceb81e33b284f742604 (azure).
# The commit dates were not available where they were read, so REGIONS_AS_OF is the day of reading.
SKYPILOT_AWS = "skypilot-catalog@001367d22a00 catalogs/v7/aws/vms.csv"
SKYPILOT_GCP = "skypilot-catalog@017e2502fb63 catalogs/v7/gcp/vms.csv"
SKYPILOT_AZURE = "skypilot-catalog@098741e70562 catalogs/v6/azure/vms.csv, which lists US regions only"
REGIONS_AS_OF = "read 2026-11-22"

# AWS cut P4/P5 on-demand prices by up to 45 % in June 2025; these are the post-cut list prices.
AWS_GPU_PRICES_AS_OF = "2025-06"


def _in_regions(source: str, *regions: str) -> Offered:
    return Offered(regions=regions, source=source, as_of=REGIONS_AS_OF)


def _in_gcp_zones(*zones: str) -> Offered:
    """GCP lists zones; the regions are their prefixes (us-central1-a is in us-central1)."""
    regions = tuple(sorted({zone.rsplit("-", 1)[0] for zone in zones}))
    return Offered(regions=regions, zones=zones, source=SKYPILOT_GCP, as_of=REGIONS_AS_OF)


def _not_listed(source: str) -> Offered:
    """The snapshot has no row for the type: its regions are unknown, so no region is refused."""
    return Offered(regions=(), source=f"{source} has no row for it", as_of=REGIONS_AS_OF)


AWS_G6 = _in_regions(
    SKYPILOT_AWS,
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-south-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-2",
    "eu-west-3",
    "us-east-1",
    "us-east-2",
    "us-west-2",
)
GCP_A3_HIGH = _in_gcp_zones(
    "asia-east1-c",
    "asia-northeast1-b",
    "asia-south1-c",
    "asia-southeast1-b",
    "asia-southeast1-c",
    "australia-southeast1-c",
    "europe-north1-c",
    "europe-west1-b",
    "europe-west1-c",
    "europe-west3-c",
    "europe-west4-b",
    "europe-west4-c",
    "europe-west8-c",
    "us-central1-a",
    "us-central1-b",
    "us-central1-c",
    "us-east4-a",
    "us-east4-b",
    "us-east4-c",
    "us-east5-a",
    "us-west1-a",
    "us-west1-b",
    "us-west4-a",
)
GCP_G2 = _in_gcp_zones(
    "asia-east1-a",
    "asia-east1-b",
    "asia-east1-c",
    "asia-northeast1-a",
    "asia-northeast1-b",
    "asia-northeast1-c",
    "asia-northeast3-a",
    "asia-northeast3-b",
    "asia-south1-a",
    "asia-south1-b",
    "asia-south1-c",
    "asia-southeast1-a",
    "asia-southeast1-b",
    "asia-southeast1-c",
    "europe-west1-b",
    "europe-west1-c",
    "europe-west2-a",
    "europe-west2-b",
    "europe-west3-a",
    "europe-west3-b",
    "europe-west4-a",
    "europe-west4-b",
    "europe-west4-c",
    "europe-west6-b",
    "europe-west6-c",
    "me-central2-a",
    "me-central2-c",
    "northamerica-northeast1-b",
    "northamerica-northeast2-a",
    "northamerica-northeast2-b",
    "us-central1-a",
    "us-central1-b",
    "us-central1-c",
    "us-east1-b",
    "us-east1-c",
    "us-east1-d",
    "us-east4-a",
    "us-east4-c",
    "us-west1-a",
    "us-west1-b",
    "us-west1-c",
    "us-west4-a",
    "us-west4-c",
)


def _aws(price: float, as_of: str = AWS_GPU_PRICES_AS_OF) -> Price:
    return Price(usd_per_hour=price, source=AWS_PRICING, as_of=as_of)


def _gcp(price: float, as_of: str = "2025-05") -> Price:
    return Price(usd_per_hour=price, source=GCP_PRICING, as_of=as_of)


def _azure(price: float, as_of: str = "2025-05") -> Price:
    return Price(usd_per_hour=price, source=AZURE_PRICING, as_of=as_of)


MACHINES: tuple[MachineShape, ...] = (
    # ---------------------------------------------------------------- AWS
    MachineShape(
        cloud="aws",
        machine_type="p5.48xlarge",
        accelerator="H100",
        count=8,
        vcpus=192,
        memory_gib=2048,
        fabric=Fabric.EFA,
        fabric_interfaces=32,
        nvme_disks=8,
        nvme_disk_gib=3576,
        price=_aws(55.04),
        source=AWS_EFA,
        offered=_in_regions(
            SKYPILOT_AWS,
            "ap-northeast-1",
            "ap-south-1",
            "ap-southeast-2",
            "ca-central-1",
            "eu-north-1",
            "eu-west-2",
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
        ),
    ),
    MachineShape(
        cloud="aws",
        machine_type="p5.4xlarge",
        accelerator="H100",
        count=1,
        vcpus=16,
        memory_gib=256,
        fabric=Fabric.NONE,
        fabric_interfaces=0,
        nvme_disks=1,
        nvme_disk_gib=3576,
        price=_aws(6.88),
        source="https://aws.amazon.com/ec2/instance-types/p5/",
        offered=_not_listed(SKYPILOT_AWS),
    ),
    MachineShape(
        cloud="aws",
        machine_type="p5en.48xlarge",
        accelerator="H200",
        count=8,
        vcpus=192,
        memory_gib=2048,
        fabric=Fabric.EFA,
        fabric_interfaces=16,
        nvme_disks=8,
        nvme_disk_gib=3576,
        price=_aws(63.30),
        source=AWS_EFA,
        offered=_in_regions(
            SKYPILOT_AWS,
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-south-1",
            "ap-southeast-3",
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
        ),
    ),
    MachineShape(
        cloud="aws",
        machine_type="p5e.48xlarge",
        accelerator="H200",
        count=8,
        vcpus=192,
        memory_gib=2048,
        fabric=Fabric.EFA,
        fabric_interfaces=32,
        nvme_disks=8,
        nvme_disk_gib=3576,
        price=_aws(63.30),
        source=AWS_EFA,
        offered=_in_regions(
            SKYPILOT_AWS, "ap-southeast-2", "ap-southeast-3", "eu-north-1", "eu-west-2", "us-east-2", "us-west-2"
        ),
    ),
    MachineShape(
        cloud="aws",
        machine_type="p4d.24xlarge",
        accelerator="A100-40GB",
        count=8,
        vcpus=96,
        memory_gib=1152,
        fabric=Fabric.EFA,
        fabric_interfaces=4,
        nvme_disks=8,
        nvme_disk_gib=1000,
        price=_aws(21.96),
        source=AWS_EFA,
        offered=_in_regions(
            SKYPILOT_AWS,
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-south-1",
            "ap-southeast-2",
            "eu-central-1",
            "eu-west-1",
            "us-east-1",
            "us-east-2",
            "us-west-2",
        ),
    ),
    MachineShape(
        cloud="aws",
        machine_type="p4de.24xlarge",
        accelerator="A100-80GB",
        count=8,
        vcpus=96,
        memory_gib=1152,
        fabric=Fabric.EFA,
        fabric_interfaces=4,
        nvme_disks=8,
        nvme_disk_gib=1000,
        price=_aws(27.45),
        source=AWS_EFA,
        offered=_in_regions(SKYPILOT_AWS, "us-east-1", "us-west-2"),
    ),
    MachineShape(
        cloud="aws",
        machine_type="g6.xlarge",
        accelerator="L4",
        count=1,
        vcpus=4,
        memory_gib=16,
        fabric=Fabric.NONE,
        fabric_interfaces=0,
        nvme_disks=1,
        nvme_disk_gib=250,
        price=_aws(0.8048, "2025-05"),
        source="https://aws.amazon.com/ec2/instance-types/g6/",
        offered=AWS_G6,
    ),
    MachineShape(
        cloud="aws",
        machine_type="g6.12xlarge",
        accelerator="L4",
        count=4,
        vcpus=48,
        memory_gib=192,
        fabric=Fabric.NONE,
        fabric_interfaces=0,
        nvme_disks=4,
        nvme_disk_gib=940,
        price=_aws(4.6016, "2025-05"),
        source="https://aws.amazon.com/ec2/instance-types/g6/",
        offered=AWS_G6,
    ),
    MachineShape(
        cloud="aws",
        machine_type="g6.48xlarge",
        accelerator="L4",
        count=8,
        vcpus=192,
        memory_gib=768,
        fabric=Fabric.NONE,
        fabric_interfaces=0,
        nvme_disks=8,
        nvme_disk_gib=940,
        price=_aws(13.3504, "2025-05"),
        source="https://aws.amazon.com/ec2/instance-types/g6/",
        offered=AWS_G6,
    ),
    MachineShape(
        cloud="aws",
        machine_type="m7i.2xlarge",
        accelerator="cpu",
        count=0,
        vcpus=8,
        memory_gib=32,
        fabric=Fabric.NONE,
        fabric_interfaces=0,
        nvme_disks=0,
        nvme_disk_gib=0,
        price=_aws(0.4032, "2025-05"),
        source="https://aws.amazon.com/ec2/instance-types/m7i/",
    ),
    # ---------------------------------------------------------------- GCP
    MachineShape(
        cloud="gcp",
        machine_type="a3-megagpu-8g",
        accelerator="H100",
        count=8,
        vcpus=208,
        memory_gib=1872,
        fabric=Fabric.TCPXO,
        fabric_interfaces=8,
        nvme_disks=16,
        nvme_disk_gib=375,
        price=_gcp(88.25),
        source="https://cloud.google.com/compute/docs/accelerator-optimized-machines#a3-mega-vms",
        gpu_type="nvidia-h100-mega-80gb",
        offered=_in_gcp_zones(
            "asia-east1-c",
            "asia-northeast1-b",
            "asia-southeast1-b",
            "asia-southeast1-c",
            "australia-southeast1-c",
            "europe-north1-c",
            "europe-west1-b",
            "europe-west1-c",
            "europe-west3-c",
            "europe-west4-b",
            "europe-west4-c",
            "us-central1-a",
            "us-central1-b",
            "us-central1-c",
            "us-east4-a",
            "us-east4-b",
            "us-east4-c",
            "us-east5-a",
            "us-west1-a",
            "us-west1-b",
            "us-west4-a",
        ),
    ),
    MachineShape(
        cloud="gcp",
        machine_type="a3-highgpu-1g",
        accelerator="H100",
        count=1,
        vcpus=26,
        memory_gib=234,
        fabric=Fabric.NONE,
        fabric_interfaces=0,
        nvme_disks=2,
        nvme_disk_gib=375,
        price=_gcp(11.06),
        source="https://cloud.google.com/compute/docs/accelerator-optimized-machines#a3-high-vms",
        gpu_type="nvidia-h100-80gb",
        offered=GCP_A3_HIGH,
    ),
    MachineShape(
        cloud="gcp",
        machine_type="a3-highgpu-2g",
        accelerator="H100",
        count=2,
        vcpus=52,
        memory_gib=468,
        fabric=Fabric.NONE,
        fabric_interfaces=0,
        nvme_disks=4,
        nvme_disk_gib=375,
        price=_gcp(22.12),
        source="https://cloud.google.com/compute/docs/accelerator-optimized-machines#a3-high-vms",
        gpu_type="nvidia-h100-80gb",
        offered=GCP_A3_HIGH,
    ),
    MachineShape(
        cloud="gcp",
        machine_type="a3-highgpu-4g",
        accelerator="H100",
        count=4,
        vcpus=104,
        memory_gib=936,
        fabric=Fabric.NONE,
        fabric_interfaces=0,
        nvme_disks=8,
        nvme_disk_gib=375,
        price=_gcp(44.24),
        source="https://cloud.google.com/compute/docs/accelerator-optimized-machines#a3-high-vms",
        gpu_type="nvidia-h100-80gb",
        offered=GCP_A3_HIGH,
    ),
    MachineShape(
        cloud="gcp",
        machine_type="a3-ultragpu-8g",
        accelerator="H200",
        count=8,
        vcpus=224,
        memory_gib=2952,
        fabric=Fabric.RDMA,
        fabric_interfaces=8,
        nvme_disks=32,
        nvme_disk_gib=375,
        price=_gcp(84.81),
        source="https://cloud.google.com/compute/docs/accelerator-optimized-machines#a3-ultra-vms",
        gpu_type="nvidia-h200-141gb",
        offered=_in_gcp_zones(
            "asia-south1-b",
            "asia-south2-c",
            "europe-west1-b",
            "europe-west4-a",
            "us-central1-b",
            "us-east4-b",
            "us-east5-a",
            "us-south1-b",
            "us-west1-c",
        ),
    ),
    MachineShape(
        cloud="gcp",
        machine_type="a2-ultragpu-8g",
        accelerator="A100-80GB",
        count=8,
        vcpus=96,
        memory_gib=1360,
        fabric=Fabric.NONE,
        fabric_interfaces=0,
        nvme_disks=8,
        nvme_disk_gib=375,
        price=_gcp(40.22),
        source=GCP_GPU,
        gpu_type="nvidia-a100-80gb",
        offered=_in_gcp_zones(
            "asia-southeast1-c",
            "europe-west4-a",
            "us-central1-a",
            "us-central1-c",
            "us-east4-c",
            "us-east5-a",
            "us-east5-b",
        ),
    ),
    MachineShape(
        cloud="gcp",
        machine_type="a2-highgpu-8g",
        accelerator="A100-40GB",
        count=8,
        vcpus=96,
        memory_gib=680,
        fabric=Fabric.NONE,
        fabric_interfaces=0,
        nvme_disks=0,
        nvme_disk_gib=0,
        price=_gcp(29.39),
        source=GCP_GPU,
        gpu_type="nvidia-tesla-a100",
        offered=_in_gcp_zones(
            "asia-northeast1-a",
            "asia-northeast1-c",
            "asia-northeast3-a",
            "asia-northeast3-b",
            "asia-southeast1-b",
            "asia-southeast1-c",
            "europe-west4-a",
            "europe-west4-b",
            "me-west1-a",
            "me-west1-c",
            "us-central1-a",
            "us-central1-b",
            "us-central1-c",
            "us-central1-f",
            "us-east1-b",
            "us-west1-b",
            "us-west3-b",
            "us-west4-b",
        ),
    ),
    MachineShape(
        cloud="gcp",
        machine_type="g2-standard-8",
        accelerator="L4",
        count=1,
        vcpus=8,
        memory_gib=32,
        fabric=Fabric.NONE,
        fabric_interfaces=0,
        nvme_disks=1,
        nvme_disk_gib=375,
        price=_gcp(0.8536),
        source=GCP_GPU,
        gpu_type="nvidia-l4",
        offered=GCP_G2,
    ),
    MachineShape(
        cloud="gcp",
        machine_type="g2-standard-24",
        accelerator="L4",
        count=2,
        vcpus=24,
        memory_gib=96,
        fabric=Fabric.NONE,
        fabric_interfaces=0,
        nvme_disks=2,
        nvme_disk_gib=375,
        price=_gcp(2.0004),
        source=GCP_GPU,
        gpu_type="nvidia-l4",
        offered=GCP_G2,
    ),
    MachineShape(
        cloud="gcp",
        machine_type="g2-standard-48",
        accelerator="L4",
        count=4,
        vcpus=48,
        memory_gib=192,
        fabric=Fabric.NONE,
        fabric_interfaces=0,
        nvme_disks=4,
        nvme_disk_gib=375,
        price=_gcp(4.0008),
        source=GCP_GPU,
        gpu_type="nvidia-l4",
        offered=GCP_G2,
    ),
    MachineShape(
        cloud="gcp",
        machine_type="g2-standard-96",
        accelerator="L4",
        count=8,
        vcpus=96,
        memory_gib=384,
        fabric=Fabric.NONE,
        fabric_interfaces=0,
        nvme_disks=8,
        nvme_disk_gib=375,
        price=_gcp(8.0016),
        source=GCP_GPU,
        gpu_type="nvidia-l4",
        offered=GCP_G2,
    ),
    MachineShape(
        cloud="gcp",
        machine_type="n2-standard-8",
        accelerator="cpu",
        count=0,
        vcpus=8,
        memory_gib=32,
        fabric=Fabric.NONE,
        fabric_interfaces=0,
        nvme_disks=0,
        nvme_disk_gib=0,
        price=_gcp(0.3885),
        source=GCP_PRICING,
    ),
    # ---------------------------------------------------------------- Azure
    MachineShape(
        cloud="azure",
        machine_type="Standard_ND96isr_H100_v5",
        accelerator="H100",
        count=8,
        vcpus=96,
        memory_gib=1900,
        fabric=Fabric.INFINIBAND,
        fabric_interfaces=8,
        fabric_gbps_per_interface=400,
        nvme_disks=8,
        nvme_disk_gib=3576,
        price=_azure(98.32),
        source=AZURE_ND,
        offered=_in_regions(SKYPILOT_AZURE, "eastus", "eastus2", "westus"),
    ),
    MachineShape(
        cloud="azure",
        machine_type="Standard_ND96isr_H200_v5",
        accelerator="H200",
        count=8,
        vcpus=96,
        memory_gib=1850,
        fabric=Fabric.INFINIBAND,
        fabric_interfaces=8,
        fabric_gbps_per_interface=400,
        nvme_disks=8,
        nvme_disk_gib=3576,
        price=_azure(110.24),
        source="https://learn.microsoft.com/azure/virtual-machines/sizes/gpu-accelerated/nd-h200-v5-series",
        offered=_not_listed(SKYPILOT_AZURE),
    ),
    MachineShape(
        cloud="azure",
        machine_type="Standard_ND96amsr_A100_v4",
        accelerator="A100-80GB",
        count=8,
        vcpus=96,
        memory_gib=1900,
        fabric=Fabric.INFINIBAND,
        fabric_interfaces=8,
        fabric_gbps_per_interface=200,
        nvme_disks=4,
        nvme_disk_gib=1788,
        price=_azure(32.77),
        source="https://learn.microsoft.com/azure/virtual-machines/sizes/gpu-accelerated/ndma100v4-series",
        offered=_in_regions(SKYPILOT_AZURE, "eastus", "eastus2", "southcentralus"),
    ),
    MachineShape(
        cloud="azure",
        machine_type="Standard_NC24ads_A100_v4",
        accelerator="A100-80GB",
        count=1,
        vcpus=24,
        memory_gib=220,
        fabric=Fabric.NONE,
        fabric_interfaces=0,
        nvme_disks=1,
        nvme_disk_gib=894,
        price=_azure(3.673),
        source="https://learn.microsoft.com/azure/virtual-machines/sizes/gpu-accelerated/nca100v4-series",
        offered=_in_regions(
            SKYPILOT_AZURE, "centralus", "eastus", "eastus2", "southcentralus", "westus", "westus2", "westus3"
        ),
    ),
    MachineShape(
        cloud="azure",
        machine_type="Standard_D8s_v5",
        accelerator="cpu",
        count=0,
        vcpus=8,
        memory_gib=32,
        fabric=Fabric.NONE,
        fabric_interfaces=0,
        nvme_disks=0,
        nvme_disk_gib=0,
        price=_azure(0.384),
        source=AZURE_PRICING,
    ),
)

# GKE TPU slices: machine type per host and the topologies GKE accepts for it (source: GCP_TPU).
TPU_GENERATIONS: tuple[TpuGeneration, ...] = (
    TpuGeneration(
        name="v5p",
        gke_accelerator="tpu-v5p-slice",
        chips_per_host=4,
        dimensions=3,
        machine_types={4: "ct5p-hightpu-4t"},
        host_sizes={"ct5p-hightpu-4t": (208, 448)},
        topologies=(
            "2x2x1",
            "2x2x2",
            "2x2x4",
            "2x4x4",
            "4x4x4",
            "4x4x8",
            "4x8x8",
            "8x8x8",
            "8x8x16",
            "8x16x16",
            "16x16x16",
            "16x16x24",
        ),
        price_per_chip=_gcp(4.20),
        source=GCP_TPU,
    ),
    TpuGeneration(
        name="v6e",
        gke_accelerator="tpu-v6e-slice",
        chips_per_host=4,
        dimensions=2,
        machine_types={1: "ct6e-standard-1t", 4: "ct6e-standard-4t", 8: "ct6e-standard-8t"},
        host_sizes={"ct6e-standard-1t": (44, 176), "ct6e-standard-4t": (180, 720), "ct6e-standard-8t": (360, 1440)},
        topologies=("1x1", "2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16"),
        price_per_chip=_gcp(2.70),
        source=GCP_TPU,
    ),
    TpuGeneration(
        name="v5e",
        gke_accelerator="tpu-v5-lite-podslice",
        chips_per_host=4,
        dimensions=2,
        machine_types={1: "ct5lp-hightpu-1t", 4: "ct5lp-hightpu-4t", 8: "ct5lp-hightpu-8t"},
        host_sizes={"ct5lp-hightpu-1t": (24, 48), "ct5lp-hightpu-4t": (112, 192), "ct5lp-hightpu-8t": (224, 384)},
        topologies=("1x1", "2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16"),
        price_per_chip=_gcp(1.20),
        source=GCP_TPU,
    ),
)
"""Host sizes: GCP_TPU_HOSTS."""

# Which machine type a CPU-only pool gets when the spec does not name one.
DEFAULT_CPU_MACHINE = {"aws": "m7i.2xlarge", "gcp": "n2-standard-8", "azure": "Standard_D8s_v5"}

# GPUs an on-prem pool may declare (existing servers: no machine type, no list price).
ONPREM_ACCELERATORS = ("H100", "H200", "A100-40GB", "A100-80GB", "L4", "L40S", "B200")
ONPREM_FABRICS = (Fabric.INFINIBAND, Fabric.RDMA, Fabric.NONE)

# Kubernetes minor versions the components are written and tested for (EKS, GKE and AKS all
# offered these in standard support as of 2025-10; on-prem clusters must be in the same window).
SUPPORTED_KUBERNETES = ("1.31", "1.32", "1.33", "1.34")

# What the cluster components create besides node pools (the cost estimate counts these too).
DEFAULT_ZONE_COUNT = 3
"""Zones an EKS or GKE cluster spreads over when the spec names none."""
AWS_INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "sts", "ec2")
"""Interface endpoints a new EKS VPC gets in every private subnet: image pulls, IRSA, VPC CNI."""
AZURE_ZONES = ("1", "2", "3")
"""Azure numbers the availability zones of a region 1 to 3."""
AZURE_REGIONS_SOURCE = (
    "https://learn.microsoft.com/azure/reliability/regions-list (MicrosoftDocs/reliability-docs "
    "articles/reliability/regions-list.md, ms.date 2025-09-23), read 2026-12-02"
)
AZURE_ZONED_REGIONS = frozenset(
    {
        "australiaeast", "austriaeast", "belgiumcentral", "brazilsouth", "canadacentral", "centralindia",
        "centralus", "chilecentral", "denmarkeast", "eastasia", "eastus", "eastus2", "francecentral",
        "germanywestcentral", "indonesiacentral", "israelcentral", "italynorth", "japaneast", "japanwest",
        "koreacentral", "malaysiawest", "mexicocentral", "newzealandnorth", "northeurope", "norwayeast",
        "polandcentral", "qatarcentral", "southafricanorth", "southcentralus", "southeastasia", "spaincentral",
        "swedencentral", "switzerlandnorth", "uaenorth", "uksouth", "westeurope", "westus2", "westus3",
    }
)  # fmt: skip
"""Azure public regions with availability zones (`AZURE_REGIONS_SOURCE`)."""
AZURE_ZONELESS_REGIONS = frozenset(
    {
        "australiacentral", "australiacentral2", "australiasoutheast", "brazilsoutheast", "canadaeast",
        "francesouth", "germanynorth", "koreasouth", "northcentralus", "norwaywest", "southafricawest",
        "southindia", "switzerlandwest", "uaecentral", "ukwest", "westcentralus", "westindia", "westus",
    }
)  # fmt: skip
"""Azure public regions without availability zones (`AZURE_REGIONS_SOURCE`): resources there take no zone."""
AKS_SYSTEM_POOL_NAME = "system"
AKS_SYSTEM_POOL_MIN_NODES = 2
AKS_SYSTEM_POOL_MAX_NODES = 6
"""AKS's own System pool (CoreDNS, konnectivity): at least one node per zone and 2, autoscaling up to 6."""
