"""`DataLake` under the plan's mock engine: every hardening setting per cloud, protect and aliases, grants (their
documents as snapshots, their scoping as assertions) and the problems raised before anything is registered.

Planned programs are cached per module: tests only read a run, and each costs up to a few seconds."""

from __future__ import annotations

import json

import pulumi
import pytest

from aiinfra.core.errors import InputError
from aiinfra.plan.engine import RecordingMonitor, run_function
from aiinfra.plan.mock_registry import ACCOUNT_ID, AZURE_SUBSCRIPTION
from aiinfra.plan.mocks import PlanMocks
from aiinfra.plan.outputs_gcp import GCP_PROJECT_NUMBER
from components.aws.lake import lake_bucket_policy, lake_key_policy, log_bucket_policy
from components.azure.lake import BLOBS, WRITE_DATA_ACTIONS, adls_grant_condition
from components.cluster import Cluster
from components.contracts import ADLS_PRIVATE_ZONES, ClusterArgs, DataLakeArgs, PrivateNetwork, grant_paths
from components.datalake import ZONES, DataLake, lake_problems
from components.gcp.lake import gcs_grant_condition
from components.identity import WorkloadIdentity, WorkloadIdentityArgs
from components.s3_grants import s3_grant_document
from tests.conftest import of_type, one

TAGS = {"cost-center": "ml-platform", "owner": "platform@example.com", "environment": "test"}
REGIONS = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus"}
CLUSTER_ZONES = {"aws": ("us-east-1a",), "gcp": ("us-central1-a",), "azure": ("1",)}
SUBNET = (
    f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/pe"
)
VNET = f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v"
STATEFUL = {
    "aws": {"aws:s3/bucket:Bucket", "aws:kms/key:Key"},
    "gcp": {"gcp:storage/bucket:Bucket", "gcp:kms/keyRing:KeyRing", "gcp:kms/cryptoKey:CryptoKey"},
    "azure": {
        "azure-native:resources:ResourceGroup",
        "azure-native:keyvault:Vault",
        "azure-native:keyvault:Key",
        "azure-native:storage:StorageAccount",
        "azure-native:storage:BlobContainer",
    },
}


def lake_args(cloud: str, **kw) -> DataLakeArgs:
    base: dict = {"cloud": cloud, "tags": TAGS}
    if cloud in REGIONS:
        base["region"] = REGIONS[cloud]
    if cloud == "azure":
        base["private_networks"] = (PrivateNetwork(region="eastus", subnet_id=SUBNET, vnet_id=VNET),)
    if cloud == "onprem":
        base["endpoint"] = "https://minio.rack.example.com"
    return DataLakeArgs(**(base | kw))


_RUNS: dict[str, object] = {}


@pytest.fixture
def plan(run_mocked):
    """Plan one lake named "lake" (cached by its arguments)."""

    def planned(cloud: str, **kw):
        key = repr(("lake", cloud, sorted(kw.items())))
        if key not in _RUNS:
            _RUNS[key] = run_mocked(lambda: DataLake("lake", lake_args(cloud, **kw)))
        return _RUNS[key]

    return planned


def cluster_args(cloud: str) -> ClusterArgs:
    if cloud == "onprem":
        return ClusterArgs(cloud="onprem", kubernetes_version="1.32", kubeconfig=pulumi.Output.secret("kubeconfig"))
    return ClusterArgs(cloud=cloud, region=REGIONS[cloud], zones=CLUSTER_ZONES[cloud], kubernetes_version="1.33")


@pytest.fixture
def granted(run_mocked):
    """A cluster, its team identity and a lake on one cloud, with a write grant on the team's prefix (every zone)
    and a read grant on one zone's subtree; the grants' documents are stack outputs "write" and "read"."""

    def planned(cloud: str):
        key = repr(("granted", cloud))
        if key not in _RUNS:

            def program():
                cluster = Cluster("c", cluster_args(cloud))
                lake = DataLake("lake", lake_args(cloud))
                identity = WorkloadIdentity("vision", WorkloadIdentityArgs(cluster=cluster, namespace="team-vision"))
                write = lake.grant(identity, access="write", prefix="datasets/vision/")
                read = lake.grant(identity, access="read", prefix="models/llm/")
                pulumi.export("write", write.document)
                pulumi.export("read", read.document)
                pulumi.export("made", {"write": len(write.resources), "read": len(read.resources)})

            _RUNS[key] = run_mocked(program)
        return _RUNS[key]

    return planned


def named(run, type_: str, name: str):
    found = [r for r in of_type(run, type_) if r.name == name]
    assert len(found) == 1, f"expected one {type_} named {name}, found {[r.name for r in of_type(run, type_)]}"
    return found[0]


def doc(value) -> dict:
    return json.loads(value) if isinstance(value, str) else value


# ------------------------------------------------------------------ S3


S3 = "aws:s3/bucket:Bucket"


def test_s3_lake_key_rotates_and_its_policy_is_scoped_to_the_account_and_s3(plan):
    run = plan("aws")
    key = one(run, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert doc(key.inputs["policy"]) == lake_key_policy(partition="aws", account_id=ACCOUNT_ID, region="us-east-1")
    use = doc(key.inputs["policy"])["Statement"][1]
    assert use["Condition"]["StringEquals"]["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
    admin = doc(key.inputs["policy"])["Statement"][0]
    assert not {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:CreateGrant"} & set(admin["Action"])
    assert key.inputs["tags"]["cost-center"] == "ml-platform" and key.inputs["tags"]["aiinfra-lake"] == "lake"


def test_s3_buckets_encrypt_with_the_lake_key_and_a_bucket_key(plan):
    run = plan("aws")
    key_arn = one(run, "aws:kms/key:Key").outputs["arn"]
    configs = of_type(run, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert {c.name for c in configs} == {"lake-encryption", "lake-logs-encryption"}
    for config in configs:
        (rule,) = config.inputs["rules"]
        assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn}
        assert rule["bucketKeyEnabled"] is True


def test_s3_buckets_block_public_access_own_their_objects_and_keep_versions(plan):
    run = plan("aws")
    buckets = {b.name: b.outputs["bucket"] for b in of_type(run, S3)}
    assert set(buckets) == {"lake-bucket", "lake-logs"}
    blocks = of_type(run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert sorted(b.inputs["bucket"] for b in blocks) == sorted(buckets.values())
    for block in blocks:
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        assert all(block.inputs[f] is True for f in flags)
    ownership = of_type(run, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert sorted(o.inputs["bucket"] for o in ownership) == sorted(buckets.values())
    assert all(o.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"} for o in ownership)
    versioning = of_type(run, "aws:s3/bucketVersioning:BucketVersioning")
    assert sorted(v.inputs["bucket"] for v in versioning) == sorted(buckets.values())
    assert all(v.inputs["versioningConfiguration"] == {"status": "Enabled"} for v in versioning)
    assert all("acl" not in b.inputs and "grants" not in b.inputs for b in of_type(run, S3))


def test_s3_lake_bucket_policy_denies_plain_http_and_uploads_under_other_keys(plan):
    run = plan("aws")
    bucket = named(run, S3, "lake-bucket")
    key = one(run, "aws:kms/key:Key")
    policy = named(run, "aws:s3/bucketPolicy:BucketPolicy", "lake-policy")
    assert policy.inputs["bucket"] == bucket.outputs["bucket"]
    document = doc(policy.inputs["policy"])
    assert document == lake_bucket_policy(bucket_arn=bucket.outputs["arn"], key_arn=key.outputs["arn"])
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert by_sid["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert by_sid["DenyUploadsWithOtherKeys"]["Condition"] == {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key.outputs["arn"]}
    }
    assert all(s["Effect"] == "Deny" for s in document["Statement"])


def test_s3_access_logs_go_to_the_log_bucket_which_only_s3_log_delivery_may_write(plan):
    run = plan("aws")
    bucket, logs = named(run, S3, "lake-bucket"), named(run, S3, "lake-logs")
    logging = one(run, "aws:s3/bucketLogging:BucketLogging")
    assert logging.inputs["bucket"] == bucket.outputs["bucket"]
    assert logging.inputs["targetBucket"] == logs.outputs["bucket"]
    assert logging.inputs["targetPrefix"] == "s3-access/"
    policy = named(run, "aws:s3/bucketPolicy:BucketPolicy", "lake-logs-policy")
    assert doc(policy.inputs["policy"]) == log_bucket_policy(
        log_bucket_arn=logs.outputs["arn"],
        source_bucket_arn=bucket.outputs["arn"],
        account_id=ACCOUNT_ID,
        key_arn=one(run, "aws:kms/key:Key").outputs["arn"],
    )
    assert policy.urn in logging.dependencies  # delivery is allowed before logging is switched on
    (expiry,) = named(
        run, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "lake-logs-lifecycle"
    ).inputs["rules"]
    assert expiry["expiration"] == {"days": 365}


def test_s3_lifecycle_expires_old_versions_and_tiers_raw_data(plan):
    rules = {
        r["id"]: r
        for r in named(
            plan("aws", noncurrent_version_days=14),
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            "lake-lifecycle",
        ).inputs["rules"]
    }
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": 14}
    assert rules["expire-noncurrent-versions"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    assert rules["tier-raw"]["filter"] == {"prefix": "raw/"}
    assert rules["tier-raw"]["transitions"] == [
        {"days": 30, "storageClass": "STANDARD_IA"},
        {"days": 180, "storageClass": "GLACIER_IR"},
    ]
    without_raw = plan("aws", zones=("curated", "models"))
    rules = named(without_raw, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "lake-lifecycle")
    assert [r["id"] for r in rules.inputs["rules"]] == ["expire-noncurrent-versions"]


def test_s3_object_lock_retains_versions_only_when_asked(plan):
    run = plan("aws")
    assert "objectLockEnabled" not in named(run, S3, "lake-bucket").inputs
    assert of_type(run, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration") == []
    locked = plan("aws", object_lock=True, object_lock_days=90, object_lock_mode="COMPLIANCE")
    assert named(locked, S3, "lake-bucket").inputs["objectLockEnabled"] is True
    lock = one(locked, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock.inputs["rule"] == {"defaultRetention": {"mode": "COMPLIANCE", "days": 90}}
    versioning = named(locked, "aws:s3/bucketVersioning:BucketVersioning", "lake-versioning")
    assert versioning.urn in lock.dependencies


def test_s3_versioning_can_be_turned_off_for_the_lake_bucket_only(plan):
    run = plan("aws", versioning=False)
    assert [v.name for v in of_type(run, "aws:s3/bucketVersioning:BucketVersioning")] == ["lake-logs-versioning"]


def test_s3_lake_uses_a_provider_of_its_region_with_the_stack_tags(plan):
    run = plan("aws")
    provider = one(run, "pulumi:providers:aws")
    assert provider.inputs["region"] == "us-east-1"
    assert json.loads(provider.inputs["defaultTags"])["tags"]["owner"] == "platform@example.com"
    for bucket in of_type(run, S3):
        assert bucket.provider.split("::")[-2] == provider.name
        assert bucket.inputs["tags"]["environment"] == "test"


# ------------------------------------------------------------------ GCS


GCS = "gcp:storage/bucket:Bucket"


def test_gcs_key_rotates_every_90_days_and_only_the_storage_agent_may_use_it(plan):
    run = plan("gcp")
    key = one(run, "gcp:kms/cryptoKey:CryptoKey")
    assert key.inputs["rotationPeriod"] == "7776000s"
    assert key.inputs["purpose"] == "ENCRYPT_DECRYPT"
    assert key.inputs["keyRing"] == one(run, "gcp:kms/keyRing:KeyRing").id
    (grant,) = [m for m in of_type(run, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")]
    assert grant.inputs == {
        "cryptoKeyId": key.id,
        "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
        "member": f"serviceAccount:service-{GCP_PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com",
    }
    for bucket in of_type(run, GCS):
        assert grant.urn in bucket.dependencies


def test_gcs_buckets_are_cmek_only_uniform_private_versioned_and_soft_deleting(plan):
    run = plan("gcp", soft_delete_days=14)
    key = one(run, "gcp:kms/cryptoKey:CryptoKey")
    assert {b.name for b in of_type(run, GCS)} == {"lake-bucket", "lake-logs"}
    for bucket in of_type(run, GCS):
        i = bucket.inputs
        assert i["uniformBucketLevelAccess"] is True
        assert i["publicAccessPrevention"] == "enforced"
        assert i["versioning"] == {"enabled": True}
        assert i["softDeletePolicy"] == {"retentionDurationSeconds": 14 * 86400}
        assert i["encryption"] == {
            "defaultKmsKeyName": key.id,
            "googleManagedEncryptionEnforcementConfig": {"restrictionMode": "FullyRestricted"},
            "customerSuppliedEncryptionEnforcementConfig": {"restrictionMode": "FullyRestricted"},
        }
        assert i["location"] == "us-central1"
        assert i["labels"]["cost-center"] == "ml-platform"
        assert i["forceDestroy"] is False


def test_gcs_lake_logs_usage_to_its_log_bucket_and_tiers_raw_data(plan):
    run = plan("gcp")
    bucket, logs = named(run, GCS, "lake-bucket"), named(run, GCS, "lake-logs")
    assert bucket.inputs["logging"] == {"logBucket": logs.outputs["name"], "logObjectPrefix": "gcs-usage/"}
    writer = named(run, "gcp:storage/bucketIAMMember:BucketIAMMember", "lake-logs-writer")
    assert writer.inputs == {
        "bucket": logs.outputs["name"],
        "role": "roles/storage.objectCreator",
        "member": "group:cloud-storage-analytics@google.com",
    }
    rules = bucket.inputs["lifecycleRules"]
    assert {
        "action": {"type": "Delete"},
        "condition": {"daysSinceNoncurrentTime": 30, "withState": "ARCHIVED"},
    } in rules
    tiers = [
        (r["action"]["storageClass"], r["condition"]["age"]) for r in rules if r["action"]["type"] == "SetStorageClass"
    ]
    assert tiers == [("NEARLINE", 30), ("COLDLINE", 180)]
    assert all(r["condition"]["matchesPrefixes"] == ["raw/"] for r in rules if r["action"]["type"] == "SetStorageClass")
    assert {"action": {"type": "Delete"}, "condition": {"age": 365}} in logs.inputs["lifecycleRules"]


# ------------------------------------------------------------------ ADLS Gen2


ACCOUNT = "azure-native:storage:StorageAccount"


def test_adls_account_is_hns_https_tls12_private_keyless_and_cmk_encrypted(plan):
    run = plan("azure")
    account = one(run, ACCOUNT).inputs
    assert account["isHnsEnabled"] is True
    assert account["kind"] == "StorageV2"
    assert account["enableHttpsTrafficOnly"] is True
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["allowBlobPublicAccess"] is False
    assert account["allowSharedKeyAccess"] is False
    assert account["defaultToOAuthAuthentication"] is True
    assert account["publicNetworkAccess"] == "Disabled"
    assert account["networkRuleSet"]["defaultAction"] == "Deny"
    assert account["sku"] == {"name": "Standard_ZRS"}
    key, vault = one(run, "azure-native:keyvault:Key"), one(run, "azure-native:keyvault:Vault")
    identity = named(run, "azure-native:managedidentity:UserAssignedIdentity", "lake-storage-identity")
    encryption = account["encryption"]
    assert encryption["keySource"] == "Microsoft.Keyvault"
    assert encryption["keyVaultProperties"] == {
        "keyName": key.outputs["name"],
        "keyVaultUri": vault.outputs["properties"]["vaultUri"],
    }
    assert encryption["encryptionIdentity"] == {"encryptionUserAssignedIdentity": identity.id}
    assert encryption["requireInfrastructureEncryption"] is True
    assert account["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity.id]}
    assert account["tags"]["owner"] == "platform@example.com"


def test_adls_key_rotates_in_a_purge_protected_closed_vault_and_only_the_account_reads_it(plan):
    run = plan("azure")
    vault = one(run, "azure-native:keyvault:Vault").inputs["properties"]
    assert vault["enablePurgeProtection"] is True
    assert vault["enableRbacAuthorization"] is True
    assert vault["networkAcls"]["defaultAction"] == "Deny"
    key = one(run, "azure-native:keyvault:Key")
    actions = key.inputs["properties"]["rotationPolicy"]["lifetimeActions"]
    assert {"trigger": {"timeAfterCreate": "P1Y"}, "action": {"type": "rotate"}} in actions
    grant = named(run, "azure-native:authorization:RoleAssignment", "lake-key-user")
    assert grant.inputs["scope"] == key.id
    identity = named(run, "azure-native:managedidentity:UserAssignedIdentity", "lake-storage-identity")
    assert grant.inputs["principalId"] == identity.outputs["principalId"]
    assert grant.inputs["roleDefinitionId"].endswith("e147488a-f6f5-4113-8e2d-b22465e65bf6")
    assert grant.urn in one(run, ACCOUNT).dependencies


def test_adls_has_a_container_per_zone_soft_delete_and_raw_tiering(plan):
    run = plan("azure", zones=("raw", "models"))
    containers = of_type(run, "azure-native:storage:BlobContainer")
    assert sorted(c.inputs["containerName"] for c in containers) == ["models", "raw"]
    assert all(c.inputs["publicAccess"] == "None" for c in containers)
    service = one(run, "azure-native:storage:BlobServiceProperties").inputs
    assert service["deleteRetentionPolicy"] == {"enabled": True, "days": 7}
    assert service["containerDeleteRetentionPolicy"] == {"enabled": True, "days": 7}
    (rule,) = one(run, "azure-native:storage:ManagementPolicy").inputs["policy"]["rules"]
    assert rule["definition"]["filters"]["prefixMatch"] == ["raw/"]
    assert rule["definition"]["actions"]["baseBlob"] == {
        "tierToCool": {"daysAfterModificationGreaterThan": 30},
        "tierToCold": {"daysAfterModificationGreaterThan": 180},
    }


def test_adls_is_reached_through_blob_and_dfs_private_endpoints(plan):
    run = plan("azure")
    account = one(run, ACCOUNT)
    endpoints = {e.name: e.inputs for e in of_type(run, "azure-native:network:PrivateEndpoint")}
    assert set(endpoints) == {"lake-pe-blob", "lake-pe-dfs"}
    for sub in ("blob", "dfs"):
        endpoint = endpoints[f"lake-pe-{sub}"]
        assert endpoint["subnet"] == {"id": SUBNET}
        (connection,) = endpoint["privateLinkServiceConnections"]
        assert connection["privateLinkServiceId"] == account.id and connection["groupIds"] == [sub]
        zone = named(run, "azure-native:privatedns:PrivateZone", f"lake-dns-{sub}")
        assert zone.inputs["privateZoneName"] == f"privatelink.{sub}.core.windows.net"
        link = named(run, "azure-native:privatedns:VirtualNetworkLink", f"lake-dns-{sub}-link")
        assert link.inputs["virtualNetwork"] == {"id": VNET}
        group = named(run, "azure-native:network:PrivateDnsZoneGroup", f"lake-pe-{sub}-dns")
        assert group.inputs["privateDnsZoneConfigs"] == [{"name": sub, "privateDnsZoneId": zone.id}]


def test_adls_uses_given_privatelink_zones_instead_of_making_its_own(plan):
    zones = {zone: f"/zones/{sub}" for sub, zone in ADLS_PRIVATE_ZONES.items()}
    run = plan("azure", private_networks=(PrivateNetwork(region="eastus", subnet_id=SUBNET, dns_zone_ids=zones),))
    assert of_type(run, "azure-native:privatedns:PrivateZone") == []
    groups = of_type(run, "azure-native:network:PrivateDnsZoneGroup")
    assert sorted(g.inputs["privateDnsZoneConfigs"][0]["privateDnsZoneId"] for g in groups) == sorted(zones.values())


def test_adls_lakes_reach_every_network_and_the_next_lake_reuses_the_zones_the_first_linked(run_mocked):
    """Two VNets (the second in another region) and two lakes: four endpoints per lake, one blob and one dfs zone
    per VNet, made by the first lake; the second registers in them (a VNet links to one zone of a name)."""
    networks = (
        PrivateNetwork(region="eastus", subnet_id=SUBNET, vnet_id=VNET),
        PrivateNetwork(region="westeurope", subnet_id="/vnets/west/subnets/endpoints", vnet_id="/vnets/west"),
    )

    def program():
        first = DataLake("lake", lake_args("azure", private_networks=networks, bucket_name="lakeone"))
        DataLake("gold", lake_args("azure", private_networks=first.adapter.linked_networks, bucket_name="laketwo"))

    run = run_mocked(program)
    zones = of_type(run, "azure-native:privatedns:PrivateZone")
    assert sorted(z.name for z in zones) == ["lake-dns-blob", "lake-dns-blob-1", "lake-dns-dfs", "lake-dns-dfs-1"]
    links = {link.inputs["virtualNetwork"]["id"] for link in of_type(run, "azure-native:privatedns:VirtualNetworkLink")}
    assert links == {VNET, "/vnets/west"}
    endpoints = {e.name: e.inputs for e in of_type(run, "azure-native:network:PrivateEndpoint")}
    assert sorted(endpoints) == sorted(
        f"{lake}-pe-{sub}{suffix}" for lake in ("lake", "gold") for sub in ("blob", "dfs") for suffix in ("", "-1")
    )
    assert endpoints["gold-pe-dfs-1"]["location"] == "westeurope"
    assert endpoints["gold-pe-dfs-1"]["subnet"] == {"id": "/vnets/west/subnets/endpoints"}
    by_zone = {z.name: z.id for z in zones}
    registered = {
        g.name: g.inputs["privateDnsZoneConfigs"][0]["privateDnsZoneId"]
        for g in of_type(run, "azure-native:network:PrivateDnsZoneGroup")
    }
    assert registered["gold-pe-dfs-1-dns"] == registered["lake-pe-dfs-1-dns"] == by_zone["lake-dns-dfs-1"]
    assert registered["gold-pe-blob-dns"] == by_zone["lake-dns-blob"]


def test_adls_data_roles_hold_blob_data_actions_only(plan):
    run = plan("azure")
    roles = {r.name: r.inputs for r in of_type(run, "azure-native:authorization:RoleDefinition")}
    group = one(run, "azure-native:resources:ResourceGroup").id
    assert set(roles) == {"lake-read-role", "lake-write-role"}
    expected = {"lake-read-role": [f"{BLOBS}/read"], "lake-write-role": list(WRITE_DATA_ACTIONS)}
    for name, role in roles.items():
        assert role["permissions"] == [
            {"actions": [], "notActions": [], "dataActions": expected[name], "notDataActions": []}
        ]
        assert role["assignableScopes"] == [group]
    assert not any(a.endswith(("/move/action", "runAsSuperUser/action")) for a in WRITE_DATA_ACTIONS)


# ------------------------------------------------------------------ protect, aliases, tags, on-prem


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
@pytest.mark.parametrize("protect", [True, False])
def test_stateful_lake_resources_are_protected_in_production_and_nothing_else(plan, cloud, protect):
    run = plan(cloud, protect=protect)
    stateful = [r for r in run.resources if r.type in STATEFUL[cloud]]
    assert stateful and all(r.protect is protect for r in stateful)
    assert not any(r.protect for r in run.resources if r.type not in STATEFUL[cloud])


def test_a_renamed_lake_keeps_its_resources_through_aliases(run_mocked):
    """The facade carries the alias; every child is named after the lake, so the engine aliases each of them to
    its old name too (Pulumi's inherited child aliases)."""
    sent: dict[str, list] = {}

    class Keep(RecordingMonitor):
        def RegisterResource(self, request):
            sent[f"{request.type}::{request.name}"] = [a.spec.name for a in request.aliases if a.spec.name]
            return super().RegisterResource(request)

    args = lake_args("aws", aliases=(pulumi.Alias(name="old-lake"),))
    run = run_function(lambda: DataLake("lake", args), PlanMocks(), monitor=Keep)
    assert sent["aiinfra:index:DataLake::lake"] == ["old-lake"]
    custom = [r for r in run.resources if r.custom and not r.type.startswith("pulumi:providers")]
    assert custom and all(r.name == "lake" or r.name.startswith("lake-") for r in run.resources if r.parent)


def test_on_prem_lake_records_its_endpoint_and_creates_nothing(plan):
    run = plan("onprem")
    assert [r.type for r in run.resources if r.type != "pulumi:pulumi:Stack"] == [
        "aiinfra:index:DataLake",
        "aiinfra:kubernetes:S3CompatibleLake",
    ]
    adapter = one(run, "aiinfra:kubernetes:S3CompatibleLake")
    assert adapter.outputs["endpoint"] == "https://minio.rack.example.com"
    assert adapter.outputs["bucket"] == "lake" and adapter.outputs["created"] is False


def test_lake_urls_name_each_zone(run_mocked):
    def program():
        for cloud in ("aws", "onprem"):
            lake = DataLake(f"lake-{cloud}", lake_args(cloud, bucket_name=f"acme-{cloud}"))
            pulumi.export(cloud, lake.zone_urls)

    outputs = run_mocked(program).stack_outputs
    assert outputs["aws"] == {z: f"s3://acme-aws/{z}/" for z in ZONES}
    assert outputs["onprem"] == {z: f"s3://acme-onprem/{z}/" for z in ZONES}


# ------------------------------------------------------------------ grants


def test_grant_prefixes_cover_one_zone_or_the_team_area_in_every_zone():
    assert grant_paths("raw/teams/vision/", ZONES) == ("raw/teams/vision/",)
    assert grant_paths("models/", ZONES) == ("models/",)
    assert grant_paths("datasets/vision/", ("raw", "models")) == ("raw/datasets/vision/", "models/datasets/vision/")


@pytest.mark.parametrize("access", ["read", "write"])
@pytest.mark.parametrize("prefix", ["datasets/vision/", "raw/teams/vision/"])
def test_s3_grant_documents_name_no_wildcard_action_or_resource(access, prefix):
    document = s3_grant_document(
        bucket_arn="arn:aws:s3:::b",
        key_arn="arn:aws:kms:us-east-1:1:key/k",
        region="us-east-1",
        access=access,
        paths=grant_paths(prefix, ZONES),
    )
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
        assert not any(a == "*" or a.endswith(":*") for a in statement["Action"])
        assert all(r != "*" and r.startswith(("arn:aws:s3:::b", "arn:aws:kms:")) for r in statement["Resource"])
    actions = {a for s in document["Statement"] for a in s["Action"]}
    assert ("s3:PutObject" in actions) is (access == "write")
    assert ("s3:DeleteObject" in actions) is (access == "write")
    assert "s3:DeleteObjectVersion" not in actions and "s3:PutObjectAcl" not in actions


def test_s3_grant_is_an_inline_policy_on_the_identity_role(granted, snapshot):
    run = granted("aws")
    role = named(run, "aws:iam/role:Role", "vision-role")
    policies = {p.name: p for p in of_type(run, "aws:iam/rolePolicy:RolePolicy") if p.name.startswith("lake-")}
    assert set(policies) == {"lake-vision-write-datasets-vision", "lake-vision-read-models-llm"}
    write = policies["lake-vision-write-datasets-vision"]
    assert write.inputs["role"] == role.id
    assert doc(write.inputs["policy"]) == run.stack_outputs["write"]
    assert write.provider.split("::")[-2] == "c-provider"  # the role's account (the cluster's provider)
    bucket = named(run, S3, "lake-bucket")
    assert run.stack_outputs["write"] == s3_grant_document(
        bucket_arn=bucket.outputs["arn"],
        key_arn=named(run, "aws:kms/key:Key", "lake-key").outputs["arn"],
        region="us-east-1",
        access="write",
        paths=tuple(f"{z}/datasets/vision/" for z in ZONES),
    )
    assert {"write": run.stack_outputs["write"], "read": run.stack_outputs["read"]} == snapshot


def test_gcs_grant_is_a_conditional_binding_for_the_identity_account(granted, snapshot):
    run = granted("gcp")
    bucket = named(run, GCS, "lake-bucket").outputs["name"]
    account = named(run, "gcp:serviceaccount/account:Account", "vision-account").outputs["email"]
    members = {m.name: m.inputs for m in of_type(run, "gcp:storage/bucketIAMMember:BucketIAMMember")}
    write = members["lake-vision-write-datasets-vision"]
    assert write["bucket"] == bucket
    assert write["role"] == "roles/storage.objectUser"
    assert write["member"] == f"serviceAccount:{account}"
    assert write["condition"]["expression"] == gcs_grant_condition(bucket, [f"{z}/datasets/vision/" for z in ZONES])
    read = members["lake-vision-read-models-llm"]
    assert read["role"] == "roles/storage.objectViewer"
    assert read["condition"]["expression"] == (
        f'(resource.name.startsWith("projects/_/buckets/{bucket}/objects/models/llm/")) || '
        f'(resource.type == "storage.googleapis.com/Bucket" && '
        f'(api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("models/llm/")))'
    )
    assert {"write": run.stack_outputs["write"], "read": run.stack_outputs["read"]} == snapshot


def test_adls_grant_is_a_conditional_assignment_per_zone_container(granted, snapshot):
    run = granted("azure")
    assert run.stack_outputs["made"] == {"write": 4, "read": 1}
    containers = {c.inputs["containerName"]: c.id for c in of_type(run, "azure-native:storage:BlobContainer")}
    identity = named(run, "azure-native:managedidentity:UserAssignedIdentity", "vision-identity")
    assignments = {
        a.name: a.inputs
        for a in of_type(run, "azure-native:authorization:RoleAssignment")
        if a.name.startswith("lake-vision-")
    }
    assert set(assignments) == {f"lake-vision-write-datasets-vision-{z}" for z in ZONES} | {
        "lake-vision-read-models-llm"
    }
    guids = {r.name: r.inputs["roleDefinitionId"] for r in of_type(run, "azure-native:authorization:RoleDefinition")}
    for zone in ZONES:
        a = assignments[f"lake-vision-write-datasets-vision-{zone}"]
        assert a["scope"] == containers[zone]
        assert a["principalId"] == identity.outputs["principalId"]
        assert a["principalType"] == "ServicePrincipal"
        assert a["roleDefinitionId"].endswith(guids["lake-write-role"])
        assert a["condition"] == adls_grant_condition(container=zone, path="datasets/vision/", access="write")
        assert a["conditionVersion"] == "2.0"
    read = assignments["lake-vision-read-models-llm"]
    assert read["scope"] == containers["models"] and read["roleDefinitionId"].endswith(guids["lake-read-role"])
    assert "blobs/write" not in read["condition"] and "StringStartsWith 'llm/'" in read["condition"]
    assert {"write": run.stack_outputs["write"], "read": run.stack_outputs["read"]} == snapshot


def test_adls_condition_limits_reads_listings_and_writes_to_the_path():
    condition = adls_grant_condition(container="raw", path="datasets/vision/", access="write")
    assert condition.count("StringStartsWith 'datasets/vision/'") == 3
    assert f"@Request[{BLOBS}:prefix] StringStartsWith 'datasets/vision/'" in condition
    for action in WRITE_DATA_ACTIONS[1:]:
        assert f"ActionMatches{{'{action}'}}" in condition
    assert "containers:name] StringEquals 'raw'" in condition
    assert adls_grant_condition(container="raw", path="", access="read") is None  # the whole container


def test_on_prem_grant_records_the_policy_the_store_needs(granted, snapshot):
    run = granted("onprem")
    records = {r.name: r.inputs for r in of_type(run, "aiinfra:kubernetes:S3CompatibleGrant")}
    write = records["lake-vision-write-datasets-vision"]
    assert write["principal"] == "system:serviceaccount:team-vision:workload"
    assert write["endpoint"] == "https://minio.rack.example.com" and write["applied"] is False
    assert (
        doc(write["policy"])
        == run.stack_outputs["write"]
        == s3_grant_document(
            bucket_arn="arn:aws:s3:::lake", access="write", paths=tuple(f"{z}/datasets/vision/" for z in ZONES)
        )
    )
    assert not any(s["Sid"] == "UseLakeKeyThroughS3" for s in run.stack_outputs["write"]["Statement"])
    assert [r for r in run.resources if r.custom and r.name.startswith("lake")] == []
    assert {"write": run.stack_outputs["write"], "read": run.stack_outputs["read"]} == snapshot


# ------------------------------------------------------------------ problems


def problems_of(args: DataLakeArgs) -> list[str]:
    return [str(p) for p in lake_problems("lake", args).problems]


def test_lake_arguments_are_checked_together():
    assert problems_of(
        DataLakeArgs(
            cloud="aws",
            zones=("raw", "gold", "raw"),
            endpoint="https://x",
            object_lock=True,
            versioning=False,
            object_lock_mode="FOREVER",
            raw_transition_days=10,
            soft_delete_days=3,
            bucket_name="Bad_Name",
            private_networks=(PrivateNetwork(region="us-east-1", subnet_id="s"),),
        )
    ) == [
        "lake.region: required on aws: the bucket and its key live in one region",
        "lake.endpoint: on-prem only; cloud lakes use the cloud's endpoint",
        "lake.zones: ['gold'] — zones are raw, curated, checkpoints, models",
        "lake.zones: ['raw', 'gold', 'raw'] — zones repeat",
        "lake.bucket_name: 'Bad_Name' — 3-63 lower-case letters, digits, '.' and '-', starting and ending alphanumeric",
        "lake.raw_transition_days: 10 — S3 moves objects to Standard-IA after 30 days at the earliest",
        "lake.soft_delete_days: 3 — 7 to 90 days",
        "lake.versioning: object lock needs versioning; turn versioning on",
        "lake.object_lock_mode: 'FOREVER' — one of GOVERNANCE, COMPLIANCE",
        "lake.private_networks: azure only; aws lakes have no private endpoints",
    ]


def test_cloud_specific_arguments_are_checked():
    assert problems_of(DataLakeArgs(cloud="gcp", region="us-central1", object_lock=True)) == [
        "lake.object_lock: S3 only: GCS bucket retention cannot be combined with versioning, ADLS Gen2 immutability "
        "is per container, and on-prem stores are configured by their operators"
    ]
    assert problems_of(DataLakeArgs(cloud="azure", region="eastus", bucket_name="has-dash")) == [
        "lake.bucket_name: 'has-dash' — 3-24 lower-case letters and digits",
        "lake.private_networks: required on azure: the account refuses public networks, so clients reach it "
        "through private endpoints in their networks",
    ]
    only_blob = {ADLS_PRIVATE_ZONES["blob"]: "/zones/blob"}
    network = PrivateNetwork(region="eastus", subnet_id=SUBNET, dns_zone_ids=only_blob)
    assert problems_of(lake_args("azure", private_networks=(network,))) == [
        "lake.private_networks[0].vnet_id: required unless dns_zone_ids names both privatelink zones (blob and dfs) "
        "already linked to it",
    ]
    assert problems_of(DataLakeArgs(cloud="onprem", region="x", endpoint="http://minio")) == [
        "lake.region: on-prem lakes have no cloud region; remove it",
        "lake.endpoint: 'http://minio' — give the https URL of the S3-compatible endpoint (TLS only)",
    ]
    assert problems_of(DataLakeArgs(cloud="ibm")) == ["lake.cloud: 'ibm' — choose one of aws, gcp, azure, onprem"]


def test_bad_lake_arguments_register_nothing():
    monitors: list[RecordingMonitor] = []

    class Keep(RecordingMonitor):
        def __init__(self, mocks):
            super().__init__(mocks)
            monitors.append(self)

    with pytest.raises(InputError):
        run_function(lambda: DataLake("lake", DataLakeArgs(cloud="aws")), PlanMocks(), monitor=Keep)
    assert [r.type for r in monitors[0].recorded.values() if r.type != "pulumi:pulumi:Stack"] == []


def test_bad_grants_are_refused_together_before_anything_is_made(run_mocked):
    def program():
        cluster = Cluster("c", cluster_args("gcp"))
        lake = DataLake("lake", lake_args("aws", zones=("raw", "curated")))
        identity = WorkloadIdentity("vision", WorkloadIdentityArgs(cluster=cluster, namespace="team-vision"))
        lake.grant(identity, access="admin", prefix="models/../*")

    with pytest.raises(InputError) as err:
        run_mocked(program)
    assert [str(p) for p in err.value.problems] == [
        "lake-vision-admin-models.access: 'admin' — one of read, write",
        "lake-vision-admin-models.prefix: 'models/../*' — lower-case segments each ending in '/', e.g. "
        "'datasets/vision/' or 'raw/teams/vision/'",
        "lake-vision-admin-models.identity: vision is a gcp identity and lake lake is on aws: S3 authorizes AWS "
        "principals only; a Google service account cannot hold an IAM policy",
    ]


def test_grants_on_missing_zones_and_repeated_grants_are_refused(run_mocked):
    def program():
        cluster = Cluster("c", cluster_args("aws"))
        lake = DataLake("lake", lake_args("aws", zones=("raw", "curated")))
        identity = WorkloadIdentity("vision", WorkloadIdentityArgs(cluster=cluster, namespace="team-vision"))
        lake.grant(identity, access="read", prefix="raw/")
        lake.grant(identity, access="read", prefix="raw/")

    with pytest.raises(InputError) as err:
        run_mocked(program)
    assert [str(p) for p in err.value.problems] == [
        "lake-vision-read-raw.name: granted twice; give each grant its own name or prefix"
    ]

    def models(lake_zones):
        def program():
            cluster = Cluster("c", cluster_args("aws"))
            lake = DataLake("lake", lake_args("aws", zones=lake_zones))
            identity = WorkloadIdentity("vision", WorkloadIdentityArgs(cluster=cluster, namespace="team-vision"))
            lake.grant(identity, access="write", prefix="models/llm/")

        return program

    with pytest.raises(InputError) as err:
        run_mocked(models(("raw", "curated")))
    assert [str(p) for p in err.value.problems] == [
        "lake-vision-write-models-llm.prefix: 'models/llm/' — zone 'models' is not a zone of lake lake (raw, curated)"
    ]
