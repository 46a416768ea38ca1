import pytest

from aiinfra.core import catalog
from aiinfra.core.catalog import CatalogError, Fabric
from aiinfra.core.catalog.data import AZURE_ZONED_REGIONS, AZURE_ZONELESS_REGIONS, MACHINES, TPU_GENERATIONS


@pytest.mark.parametrize(
    ("cloud", "accelerator", "machine_type", "fabric", "interfaces"),
    [
        ("aws", "H100:8", "p5.48xlarge", Fabric.EFA, 32),
        ("aws", "H200:8", "p5en.48xlarge", Fabric.EFA, 16),
        ("aws", "A100-40GB:8", "p4d.24xlarge", Fabric.EFA, 4),
        ("gcp", "H100:8", "a3-megagpu-8g", Fabric.TCPXO, 8),
        ("gcp", "H200:8", "a3-ultragpu-8g", Fabric.RDMA, 8),
        ("azure", "H100:8", "Standard_ND96isr_H100_v5", Fabric.INFINIBAND, 8),
        ("aws", "L4:1", "g6.xlarge", Fabric.NONE, 0),
    ],
)
def test_auto_fabric_resolves_to_the_machines_own(cloud, accelerator, machine_type, fabric, interfaces):
    shape = catalog.resolve(cloud, accelerator)
    assert (shape.machine_type, shape.fabric, shape.fabric_interfaces) == (machine_type, fabric, interfaces)


def test_infiniband_ports_are_400_gbps_on_nd_h100_v5():
    nd = next(m for m in MACHINES if m.machine_type == "Standard_ND96isr_H100_v5")
    assert (nd.fabric_interfaces, nd.fabric_gbps_per_interface) == (8, 400)


def test_explicit_machine_type_picks_among_equal_shapes():
    assert catalog.resolve("aws", "H200:8", machine_type="p5e.48xlarge").fabric_interfaces == 32


@pytest.mark.parametrize(
    ("topology", "hosts", "machine_type"),
    [
        ("TPU-v5p:2x2x1", 1, "ct5p-hightpu-4t"),
        ("TPU-v5p:2x2x2", 2, "ct5p-hightpu-4t"),
        ("TPU-v5p:4x4x4", 16, "ct5p-hightpu-4t"),
        ("TPU-v6e:1x1", 1, "ct6e-standard-1t"),
        ("TPU-v6e:2x4", 1, "ct6e-standard-8t"),
        ("TPU-v6e:4x4", 4, "ct6e-standard-4t"),
        ("TPU-v6e:16x16", 64, "ct6e-standard-4t"),
        ("TPU-v5e:1x1", 1, "ct5lp-hightpu-1t"),
        ("TPU-v5e:2x4", 1, "ct5lp-hightpu-8t"),
        ("TPU-v5e:4x8", 8, "ct5lp-hightpu-4t"),
    ],
)
def test_tpu_hosts_are_chips_over_chips_per_host(topology, hosts, machine_type):
    shape = catalog.resolve("gcp", topology)
    assert shape.tpu is not None
    assert (shape.tpu.hosts, shape.machine_type) == (hosts, machine_type)
    assert shape.tpu.hosts * shape.accelerators_per_node == shape.tpu.chips


@pytest.mark.parametrize(
    ("accelerator", "size"),
    [
        ("TPU-v5p:2x2x2", (208, 448)),
        ("TPU-v6e:4x4", (180, 720)),
        ("TPU-v5e:4x8", (112, 192)),
        ("H100:8", (192, 2048)),
    ],
)
def test_every_cloud_node_is_sized_tpu_hosts_included(accelerator, size):
    shape = catalog.resolve("gcp" if accelerator.startswith("TPU") else "aws", accelerator)
    assert (shape.vcpus, shape.memory_gib) == size


def test_on_prem_nodes_are_sized_by_the_spec_or_not_at_all():
    assert catalog.resolve("onprem", "H100:8", fabric="infiniband").vcpus is None
    sized = catalog.resolve("onprem", "H100:8", fabric="infiniband", node_size=(224, 2048))
    assert (sized.vcpus, sized.memory_gib) == (224, 2048)


def test_local_nvme_auto_uses_the_disks_the_machine_has():
    assert catalog.resolve("aws", "H100:8").local_nvme_disks == 8
    assert catalog.resolve("aws", "H100:8", local_nvme="none").local_nvme_disks == 0
    assert catalog.resolve("aws", "cpu").local_nvme_disks == 0


def test_explicit_fabric_none_opts_out():
    shape = catalog.resolve("aws", "H100:8", fabric="none")
    assert (shape.fabric, shape.fabric_interfaces) == (Fabric.NONE, 0)


def refusal(*args, **kwargs) -> str:
    with pytest.raises(CatalogError) as err:
        catalog.resolve(*args, **kwargs)
    return str(err.value)


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (("aws", "H100:9"), {}, "H100 comes 1 or 8 per node on aws (p5.4xlarge: 1, p5.48xlarge: 8)"),
        (("gcp", "H100:8"), {"fabric": "efa"}, "efa exists only on aws"),
        (("aws", "TPU-v5p:2x2x2"), {}, "TPUs exist only on gcp"),
        (("aws", "L4:1"), {"fabric": "efa"}, "g6.xlarge has no accelerator fabric; use fabric: none"),
        (("gcp", "H100:8"), {"fabric": "rdma"}, "a3-megagpu-8g has tcpxo; use fabric: auto or tcpxo"),
        (("gcp", "TPU-v5p:3x3x3"), {}, "TPU v5p slices come in topologies 2x2x1, 2x2x2"),
        (("gcp", "TPU-v9:2x2"), {}, "unknown TPU generation; known: TPU-v5e, TPU-v5p, TPU-v6e"),
        (("aws", "X9:1"), {}, "unknown accelerator; write MODEL:COUNT"),
        (("aws", "H100"), {}, "give the accelerators per node as a positive integer, e.g. H100:8"),
        (("azure", "L4:1"), {}, "azure offers no L4; L4 is offered on aws, gcp"),
        (("aws", "L4:1"), {"local_nvme": "none", "machine_type": "p5.48xlarge"}, "does not provide L4:1"),
        (("aws", "cpu"), {"local_nvme": "raid0"}, "m7i.2xlarge has no local NVMe disks"),
        (("gcp", "TPU-v5p:2x2x2"), {"fabric": "tcpxo"}, "TPU slices talk over their own ICI links"),
        (("onprem", "H100:8"), {}, "fabric of existing on-prem nodes cannot be looked up"),
        (("onprem", "H100:8"), {"fabric": "efa"}, "efa exists only on aws; on-prem use infiniband, rdma, none"),
        (("mars", "H100:8"), {}, "choose one of aws, gcp, azure, onprem"),
    ],
)
def test_impossible_requests_are_refused_with_the_alternatives(args, kwargs, expected):
    assert expected in refusal(*args, **kwargs)


def test_every_fact_names_its_source_and_date():
    for machine in MACHINES:
        assert machine.source.startswith("https://"), machine.machine_type
        assert machine.price.as_of[:2] == "20" and machine.price.usd_per_hour > 0
    for gen in TPU_GENERATIONS:
        assert gen.source.startswith("https://") and gen.price_per_chip.as_of


def test_on_prem_nodes_have_no_list_price():
    assert catalog.resolve("onprem", "H100:8", fabric="infiniband").price is None


# ------------------------------------------------------------------ where machines are sold

GPU_SHAPES = [m for m in MACHINES if m.accelerator != "cpu"]


def test_every_gpu_shape_says_where_it_is_sold_and_from_which_snapshot():
    assert all(m.offered and m.offered.source and m.offered.as_of for m in GPU_SHAPES)
    # The snapshots have no row for these two; any other GPU shape without regions is data gone missing.
    unlisted = {m.machine_type for m in GPU_SHAPES if not m.offered.regions}
    assert unlisted == {"p5.4xlarge", "Standard_ND96isr_H200_v5"}


def test_azure_machines_are_sold_in_regions_the_catalog_knows_the_zones_of():
    assert not AZURE_ZONED_REGIONS & AZURE_ZONELESS_REGIONS
    for m in GPU_SHAPES:
        if m.cloud == "azure":
            assert set(m.offered.regions) <= AZURE_ZONED_REGIONS | AZURE_ZONELESS_REGIONS, m.machine_type
    assert catalog.azure_region_zones("eastus") == ("1", "2", "3")
    assert catalog.azure_region_zones("westus") == ()
    assert catalog.azure_region_zones("nowhere-land") is None


def test_gcp_zones_lie_in_the_listed_regions():
    for m in GPU_SHAPES:
        if m.cloud == "gcp":
            assert m.offered.zones and {z.rsplit("-", 1)[0] for z in m.offered.zones} == set(m.offered.regions)


def test_a_region_the_catalog_does_not_list_is_refused_with_where_it_is_sold():
    with pytest.raises(CatalogError) as err:
        catalog.resolve("azure", "H100:8", region="westus2")
    [(field, message)] = err.value.problems
    assert field == "accelerator"
    assert message.startswith(
        "'H100:8' — Standard_ND96isr_H100_v5 is not offered in westus2 per the catalog (skypilot-catalog@098741e70562 "
        "catalogs/v6/azure/vms.csv, which lists US regions only, read 2026-11-22); "
        "offered in: eastus, eastus2, westus; pick one of them, "
        "or add the region to aiinfra/core/catalog/data.py with its source"
    )


def test_a_listed_region_resolves():
    assert catalog.resolve("azure", "H100:8", region="eastus").machine_type == "Standard_ND96isr_H100_v5"
    assert catalog.resolve("aws", "L4:1", region="eu-north-1").machine_type == "g6.xlarge"


def test_a_named_machine_type_is_refused_on_its_own_field():
    with pytest.raises(CatalogError) as err:
        catalog.resolve("aws", "H100:8", machine_type="p5.48xlarge", region="eu-west-1")
    assert [f for f, _ in err.value.problems] == ["machine_type"]
    assert "'p5.48xlarge' — p5.48xlarge is not offered in eu-west-1" in err.value.problems[0][1]


def test_auto_pick_prefers_a_machine_sold_in_the_region():
    # p5en is the first H200:8 choice, but the catalog lists only p5e in eu-north-1.
    assert catalog.resolve("aws", "H200:8", region="us-east-1").machine_type == "p5en.48xlarge"
    assert catalog.resolve("aws", "H200:8", region="eu-north-1").machine_type == "p5e.48xlarge"
    assert catalog.resolve("aws", "H200:8", fabric="efa", region="eu-north-1").machine_type == "p5e.48xlarge"
    with pytest.raises(CatalogError, match=r"p5en\.48xlarge is not offered in sa-east-1"):
        catalog.resolve("aws", "H200:8", region="sa-east-1")


def test_gcp_zones_the_machine_is_not_in_are_refused_on_the_zone():
    assert catalog.resolve("gcp", "H200:8", region="us-central1", zones=["us-central1-b"]).machine_type
    with pytest.raises(CatalogError) as err:
        catalog.resolve("gcp", "H200:8", region="us-central1", zones=["us-central1-a", "us-central1-b"])
    [(field, message)] = err.value.problems
    assert field == "zone"
    assert message.startswith("'us-central1-a' — a3-ultragpu-8g is not offered in zone us-central1-a per the catalog")
    assert "in us-central1 it is offered in: us-central1-b; set the pool's zone to one of them" in message


def test_unknown_offerings_cpu_tpu_and_onprem_are_not_checked():
    assert catalog.resolve("azure", "H200:8", region="westeurope").machine_type == "Standard_ND96isr_H200_v5"
    assert catalog.resolve("azure", "cpu", region="westeurope").machine_type == "Standard_D8s_v5"
    assert catalog.resolve("gcp", "TPU-v5p:2x2x2", region="europe-west4", zones=["europe-west4-b"]).tpu
    assert catalog.resolve("onprem", "H100:8", fabric="infiniband", region="anywhere").machine_type is None
