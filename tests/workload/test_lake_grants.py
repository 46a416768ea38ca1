"""Lake grants enforced, not just rendered: the AWS grant documents run inside moto with its IAM authorization
mode on, and every IAM document the lake and identity components generate is linted by parliament.

moto (5.x) evaluates identity policies per request: actions and resources (with '*' wildcards) of the user's
policies, Allow/Deny. It does not evaluate conditions other than StringEquals with values it knows (for S3
requests: none), so the `s3:prefix` condition on ListBucket and the `kms:ViaService` condition are checked here
by document shape (and by parliament), not by moto; nor does it apply bucket policies' conditional denials
(they would deny everything in moto), so the bucket policy is linted, not enforced, here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import types
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from aiinfra.plan.export import POLICY_INPUTS
from aiinfra.plan.mock_registry import ACCOUNT_ID
from components.aws.iam import pod_identity_trust
from components.aws.identity import irsa_trust
from components.aws.lake import lake_bucket_policy, lake_key_policy, log_bucket_policy
from components.aws.registry import pull_policy, registry_key_policy
from components.contracts import grant_paths
from components.s3_grants import s3_grant_document

REGION = "us-east-1"
BUCKET = "lake-aws-test"
ZONES = ("raw", "curated", "checkpoints", "models")


# ------------------------------------------------------------------ parliament


def _parliament():
    """parliament 1.6.4 (the newest) still imports `pkg_resources`, which setuptools removed in 82
    (duo-labs/parliament#247). It only calls `resource_filename` while importing, so where the real module is
    missing a stand-in that resolves the package's own data files is put in place for the import, then removed."""
    shim = None
    if importlib.util.find_spec("pkg_resources") is None:
        shim = types.ModuleType("pkg_resources")

        def resource_filename(package: str, name: str) -> str:
            spec = importlib.util.find_spec(package)
            assert spec is not None and spec.submodule_search_locations
            return os.path.join(spec.submodule_search_locations[0], name)

        shim.resource_filename = resource_filename  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim
    try:
        import parliament
    finally:
        if shim is not None:
            del sys.modules["pkg_resources"]
    # Severities of the community auditors' findings, as `parliament --include-community-auditors` loads them.
    community = os.path.join(os.path.dirname(parliament.__file__), "community_auditors", "config_override.yaml")
    parliament.override_config(community)
    return parliament


parliament = _parliament()
BLOCKING = ("MEDIUM", "HIGH", "CRITICAL")
TYPOS = ("UNKNOWN_ACTION", "UNKNOWN_PREFIX")
"""parliament rates misspelled actions LOW; a misspelled action in a grant silently grants nothing, so these
block too."""
EKS_OIDC_PROVIDER = re.compile(
    r"^arn:aws:iam::\d{12}:oidc-provider/oidc\.eks\.[a-z0-9-]+\.amazonaws\.com/id/[0-9A-F]+$"
)


def ignored(kind: str, finding) -> bool:
    """The finding types explicitly ignored, each only where it is a false positive:

    - trust policies (`kind == "trust"`) and ECR repository policies (`kind == "repository"`), MALFORMED "neither
      Resource nor NotResource": parliament lints identity policies; a role's trust policy and a repository's
      policy have no Resource (the role or repository is the resource, and IAM rejects a Resource element there).
    - IRSA trust, UNKNOWN_FEDERATION_SOURCE for an EKS OIDC provider ARN: parliament knows SAML providers and four
      public web identity providers only; `arn:aws:iam::<account>:oidc-provider/oidc.eks.<region>...` is the
      Federated principal the EKS user guide prescribes for IRSA.
    - key policy (`kind == "key"`), PERMISSIONS_MANAGEMENT_ACTIONS for kms:PutKeyPolicy in AccountAdministers: the
      account must be able to administer its own key's policy (KMS refuses a policy that locks its creator out,
      and Pulumi updates the policy with PutKeyPolicy); every use of the key is limited to S3 separately. Also
      kms:CreateGrant and kms:RetireGrant in the registry key's AccountUsesThroughEcr: ECR creates a grant per
      repository as the principal that creates it, and that statement allows them only through ECR
      (kms:ViaService), as the ECR user guide's "Encryption at rest" requires.
    """
    if kind in ("trust", "repository") and finding.issue == "MALFORMED":
        return "neither Resource nor NotResource" in str(finding.detail)
    if kind == "trust" and finding.issue == "UNKNOWN_FEDERATION_SOURCE":
        return bool(EKS_OIDC_PROVIDER.match(str(finding.detail)))
    if kind == "key" and finding.issue == "PERMISSIONS_MANAGEMENT_ACTIONS":
        return set(finding.location.get("actions", ())) <= {"kms:putkeypolicy", "kms:creategrant", "kms:retiregrant"}
    return False


def blocking_findings(kind: str, document: dict | str) -> list[str]:
    text = document if isinstance(document, str) else json.dumps(document)
    policy = parliament.analyze_policy_string(text, include_community_auditors=True)
    found = []
    for finding in policy.findings:
        parliament.enhance_finding(finding)
        if (finding.severity in BLOCKING or finding.issue in TYPOS) and not ignored(kind, finding):
            found.append(f"{finding.severity} {finding.issue}: {finding.detail}")
    return found


KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/0b7e3a52-4a8e-4f0e-9c44-5b1f3f0f2a11"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
OIDC_ISSUER = f"https://oidc.eks.{REGION}.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
OIDC_PROVIDER = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{OIDC_ISSUER.removeprefix('https://')}"


def rendered_documents() -> Iterator[tuple[str, str, dict]]:
    """(kind, label, document) of every document shape the components render."""
    for access in ("read", "write"):
        for prefix in ("datasets/vision/", "raw/teams/vision/", "models/"):
            paths = grant_paths(prefix, ZONES)
            yield (
                "identity",
                f"grant {access} {prefix}",
                s3_grant_document(bucket_arn=BUCKET_ARN, key_arn=KEY_ARN, region=REGION, access=access, paths=paths),
            )
            yield (
                "identity",
                f"on-prem grant {access} {prefix}",
                s3_grant_document(bucket_arn=BUCKET_ARN, access=access, paths=paths),
            )
    yield "bucket", "lake bucket policy", lake_bucket_policy(bucket_arn=BUCKET_ARN, key_arn=KEY_ARN)
    yield (
        "bucket",
        "log bucket policy",
        log_bucket_policy(
            log_bucket_arn=f"{BUCKET_ARN}-logs", source_bucket_arn=BUCKET_ARN, account_id=ACCOUNT_ID, key_arn=KEY_ARN
        ),
    )
    yield "key", "lake key policy", lake_key_policy(partition="aws", account_id=ACCOUNT_ID, region=REGION)
    yield "key", "registry key policy", registry_key_policy(partition="aws", account_id=ACCOUNT_ID, region=REGION)
    yield "repository", "registry pull policy", pull_policy([f"arn:aws:iam::{ACCOUNT_ID}:role/train-node-role"])
    yield (
        "trust",
        "pod identity trust",
        json.loads(
            pod_identity_trust(
                cluster_arn=f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:cluster/train",
                namespace="team-vision",
                service_account="w",
            )
        ),
    )
    yield (
        "trust",
        "irsa trust",
        json.loads(
            irsa_trust(provider_arn=OIDC_PROVIDER, issuer_url=OIDC_ISSUER, namespace="team-vision", service_account="w")
        ),
    )


@pytest.mark.parametrize(("kind", "label", "document"), list(rendered_documents()), ids=lambda v: str(v)[:40])
def test_parliament_finds_nothing_medium_or_worse(kind, label, document):
    assert blocking_findings(kind, document) == [], label


def test_parliament_check_is_not_toothless():
    """The same check flags the mistakes the grants must never make."""
    wildcard = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    assert blocking_findings("identity", wildcard)
    typo = s3_grant_document(bucket_arn=BUCKET_ARN, access="read", paths=("raw/",))
    typo["Statement"][0]["Action"].append("s3:GetObjectz")
    assert any("UNKNOWN_ACTION" in f for f in blocking_findings("identity", typo))
    escalation = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["iam:PutRolePolicy"], "Resource": f"arn:aws:iam::{ACCOUNT_ID}:role/x"}
        ],
    }
    assert blocking_findings("identity", escalation)


def test_every_iam_document_of_the_lake_and_identity_components_passes_parliament(run_mocked):
    """Not only the pure functions: the documents in the recorded inputs of a planned lake, identity and grant."""
    from components.cluster import Cluster
    from components.contracts import ClusterArgs, DataLakeArgs
    from components.datalake import DataLake
    from components.identity import WorkloadIdentity, WorkloadIdentityArgs

    def program():
        cluster = Cluster(
            "c", ClusterArgs(cloud="aws", region=REGION, zones=(f"{REGION}a",), kubernetes_version="1.33")
        )
        lake = DataLake("lake", DataLakeArgs(cloud="aws", region=REGION, object_lock=True))
        for mode in ("pod-identity", "irsa"):
            identity = WorkloadIdentity(
                f"vision-{mode}", WorkloadIdentityArgs(cluster=cluster, namespace="team-vision", aws_mode=mode)
            )
            lake.grant(identity, access="write", prefix="datasets/vision/")
            lake.grant(identity, access="read", prefix="models/")

    run = run_mocked(program)
    mine = [r for r in run.resources if r.name.startswith(("lake", "vision-")) and r.type in POLICY_INPUTS]
    kinds = {
        "aws:iam/role:Role": "trust",
        "aws:iam/rolePolicy:RolePolicy": "identity",
        "aws:s3/bucketPolicy:BucketPolicy": "bucket",
        "aws:kms/key:Key": "key",
    }
    checked = []
    for r in mine:
        for key in POLICY_INPUTS[r.type]:
            assert blocking_findings(kinds[r.type], r.inputs[key]) == [], f"{r.type} {r.name}"
            checked.append(kinds[r.type])
    assert sorted(checked) == [
        "bucket",
        "bucket",
        "identity",
        "identity",
        "identity",
        "identity",
        "key",
        "trust",
        "trust",
    ]


# ------------------------------------------------------------------ moto: the grants enforced


def denied(call, **kwargs) -> bool:
    try:
        call(**kwargs)
    except ClientError as err:
        assert err.response["Error"]["Code"] == "AccessDenied", err.response["Error"]
        return True
    return False


def user_with_policy(iam, user: str, document: dict) -> dict:
    """An IAM user whose only permissions are `document` (inline), with an access key."""
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="lake-grant", PolicyDocument=json.dumps(document))
    return iam.create_access_key(UserName=user)["AccessKey"]


def s3_as(key: dict):
    return boto3.client(
        "s3",
        region_name=REGION,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )


@pytest.fixture
def lake():
    """A versioned bucket holding each team's data, and users holding exactly the generated grant documents:
    vision may write `datasets/vision/` (in every zone), its reader may only read it."""
    with mock_aws():
        admin = boto3.client("s3", region_name=REGION)
        iam = boto3.client("iam", region_name=REGION)
        kms_key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
        admin.create_bucket(Bucket=BUCKET)
        admin.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        for key in ("raw/datasets/nlp/corpus.bin", "raw/datasets/vision/images.bin", "models/llm/weights.bin"):
            admin.put_object(Bucket=BUCKET, Key=key, Body=b"seed")

        def grant(access: str, prefix: str) -> dict:
            return s3_grant_document(
                bucket_arn=BUCKET_ARN, key_arn=kms_key, region=REGION, access=access, paths=grant_paths(prefix, ZONES)
            )

        keys = {
            "writer": user_with_policy(iam, "vision-writer", grant("write", "datasets/vision/")),
            "reader": user_with_policy(iam, "vision-reader", grant("read", "datasets/vision/")),
        }
        # From here on moto authenticates and authorizes every request (no unauthenticated head start).
        with_auth = set_initial_no_auth_action_count(0)
        yield {name: s3_as(key) for name, key in keys.items()}, with_auth, admin


def test_write_grant_writes_reads_and_deletes_under_its_prefix_in_every_zone(lake):
    clients, with_auth, _ = lake
    writer = clients["writer"]

    @with_auth
    def check():
        for key in ("raw/datasets/vision/new.bin", "checkpoints/datasets/vision/step-100/model.pt"):
            writer.put_object(Bucket=BUCKET, Key=key, Body=b"x")
            assert writer.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"x"
        writer.delete_object(Bucket=BUCKET, Key="raw/datasets/vision/new.bin")
        # Multipart uploads (large checkpoints) are writes too.
        key = "checkpoints/datasets/vision/step-200/model.pt"
        upload = writer.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
        part = writer.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=1, Body=b"y" * 16)
        writer.complete_multipart_upload(
            Bucket=BUCKET,
            Key=key,
            UploadId=upload,
            MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
        )

    check()


def test_write_grant_is_denied_everywhere_else(lake):
    clients, with_auth, admin = lake
    writer = clients["writer"]
    version = admin.list_object_versions(Bucket=BUCKET, Prefix="raw/datasets/vision/images.bin")["Versions"][0]

    @with_auth
    def check():
        # Another team's prefix, a path outside every zone, a zone's root: no writes, no reads.
        assert denied(writer.put_object, Bucket=BUCKET, Key="raw/datasets/nlp/x.bin", Body=b"x")
        assert denied(writer.put_object, Bucket=BUCKET, Key="datasets/vision/x.bin", Body=b"x")
        assert denied(writer.put_object, Bucket=BUCKET, Key="raw/x.bin", Body=b"x")
        assert denied(writer.get_object, Bucket=BUCKET, Key="raw/datasets/nlp/corpus.bin")
        assert denied(writer.get_object, Bucket=BUCKET, Key="models/llm/weights.bin")
        assert denied(writer.delete_object, Bucket=BUCKET, Key="raw/datasets/nlp/corpus.bin")
        # Even under its own prefix: no deleting versions for good, no tags, no ACLs, no bucket settings.
        assert denied(
            writer.delete_object, Bucket=BUCKET, Key="raw/datasets/vision/images.bin", VersionId=version["VersionId"]
        )
        assert denied(
            writer.put_object_tagging,
            Bucket=BUCKET,
            Key="raw/datasets/vision/images.bin",
            Tagging={"TagSet": [{"Key": "k", "Value": "v"}]},
        )
        assert denied(writer.put_object_acl, Bucket=BUCKET, Key="raw/datasets/vision/images.bin", ACL="public-read")
        assert denied(writer.delete_bucket_policy, Bucket=BUCKET)
        assert denied(writer.put_bucket_versioning, Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})

    check()


def test_read_grant_reads_but_cannot_write_or_delete(lake):
    clients, with_auth, _ = lake
    reader = clients["reader"]

    @with_auth
    def check():
        assert reader.get_object(Bucket=BUCKET, Key="raw/datasets/vision/images.bin")["Body"].read() == b"seed"
        assert denied(reader.delete_object, Bucket=BUCKET, Key="raw/datasets/vision/images.bin")
        assert denied(reader.put_object, Bucket=BUCKET, Key="raw/datasets/vision/new.bin", Body=b"x")
        assert denied(reader.get_object, Bucket=BUCKET, Key="raw/datasets/nlp/corpus.bin")

    check()
    # The delete really did not happen.
    assert lake[2].get_object(Bucket=BUCKET, Key="raw/datasets/vision/images.bin")["Body"].read() == b"seed"


def test_the_denials_come_from_the_documents(lake):
    """With authorization off moto allows any request; the same request with it on is refused, so the denials
    above are the grant documents at work."""
    clients, with_auth, _ = lake
    reader = clients["reader"]
    reader.put_object(Bucket=BUCKET, Key="raw/datasets/nlp/x.bin", Body=b"x")

    @with_auth
    def check():
        assert denied(reader.put_object, Bucket=BUCKET, Key="raw/datasets/nlp/x.bin", Body=b"x")

    check()


# ------------------------------------------------------------------ what moto cannot enforce, by shape


def test_listing_and_key_use_are_limited_by_conditions():
    document = s3_grant_document(
        bucket_arn=BUCKET_ARN,
        key_arn=KEY_ARN,
        region=REGION,
        access="read",
        paths=grant_paths("datasets/vision/", ZONES),
    )
    (listing,) = [s for s in document["Statement"] if s["Action"] == ["s3:ListBucket"]]
    assert listing["Resource"] == [BUCKET_ARN]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [f"{z}/datasets/vision/*" for z in ZONES]}}
    (key,) = [s for s in document["Statement"] if any(a.startswith("kms:") for a in s["Action"])]
    assert key == {
        "Sid": "UseLakeKeyThroughS3",
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": [KEY_ARN],
        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}},
    }
    for statement in document["Statement"]:
        assert "*" not in statement["Action"] and not any(a.endswith(":*") for a in statement["Action"])
        assert "*" not in statement["Resource"]
