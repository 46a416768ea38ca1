"""`aiinfra audit` against moto's server: the prod stack's AWS resources deployed as `pulumi up` would audit
clean; each seeded break is found by the pack's own rule on the right resource, and as drift on the right path."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from moto.core import set_initial_no_auth_action_count

from aiinfra.audit import permissions
from aiinfra.audit.command import AuditResult, run_audit
from aiinfra.audit.errors import CloudUnreadable
from aiinfra.cli import main

from .conftest import REPO, STACK
from .deploy import REGION, Deployment

pytestmark = pytest.mark.slow  # one offline plan of prod per module (and per xdist worker)

URN = "urn:pulumi:prod::aiinfra::"
LAKE_BUCKET = ("aws:s3/bucket:Bucket", "lake-aws-bucket")
LOGS_BUCKET = ("aws:s3/bucket:Bucket", "lake-aws-logs")


def _urn(deployment: Deployment, type_: str, name: str) -> str:
    (found,) = [r.urn for r in deployment.run.resources if r.type == type_ and r.name == name]
    return found


def _audit(deployment: Deployment, calls: list[tuple[str, str]] | None = None) -> AuditResult:
    session = boto3.Session()
    if calls is not None:
        session.events.register(
            "before-call", lambda model, **_: calls.append((model.service_model.service_name, model.name))
        )
    return run_audit(REPO, STACK, endpoint_url=deployment.endpoint, plan=deployment.run, session=session)


@pytest.fixture(scope="module")
def calls() -> list[tuple[str, str]]:
    return []


@pytest.fixture(scope="module")
def clean(deployment: Deployment, calls) -> AuditResult:
    return _audit(deployment, calls)


# ------------------------------------------------------------------ the breaks


def _physical(deployment: Deployment, type_: str, name: str) -> str:
    return deployment.physical[_urn(deployment, type_, name)]


def break_encryption(d: Deployment) -> None:
    d.client("s3").delete_bucket_encryption(Bucket=_physical(d, "aws:s3/bucket:Bucket", "lake-aws-bucket"))


def break_public_acl(d: Deployment) -> None:
    """What it takes on AWS: ACLs back on (ObjectWriter), the public access block's ACL settings off, then the
    public-read canned ACL."""
    s3, bucket = d.client("s3"), _physical(d, "aws:s3/bucket:Bucket", "lake-aws-logs")
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": False,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")


def break_rotation(d: Deployment) -> None:
    d.client("kms").disable_key_rotation(KeyId=_physical(d, "aws:kms/key:Key", "train-aws-secrets"))


WILDCARD = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


def break_wildcard_policy(d: Deployment) -> None:
    role = _physical(d, "aws:iam/role:Role", "train-aws-nlp-role")
    name = _physical(d, "aws:iam/rolePolicy:RolePolicy", "lake-aws-train-aws-nlp-read-curated")
    d.client("iam").put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(WILDCARD))


def break_imdsv1(d: Deployment) -> None:
    """A new default version of the GPU pool's launch template that accepts IMDSv1 tokens."""
    ec2, template = d.client("ec2"), _physical(d, "aws:ec2/launchTemplate:LaunchTemplate", "train-aws-h100-lt")
    version = ec2.create_launch_template_version(
        LaunchTemplateName=template,
        SourceVersion="1",
        LaunchTemplateData={"MetadataOptions": {"HttpTokens": "optional", "HttpEndpoint": "enabled"}},
    )["LaunchTemplateVersion"]["VersionNumber"]
    ec2.modify_launch_template(LaunchTemplateName=template, DefaultVersion=str(version))


EXTRA_NODE_GROUP = "debug-gpus"


def break_extra_node_group(d: Deployment) -> None:
    """A node group created by hand in the stack's cluster, without the stack's tags."""
    cluster = _physical(d, "aws:eks/cluster:Cluster", "train-aws-eks")
    role = d.client("iam").get_role(RoleName=_physical(d, "aws:iam/role:Role", "train-aws-node-role"))["Role"]["Arn"]
    d.client("eks").create_nodegroup(
        clusterName=cluster,
        nodegroupName=EXTRA_NODE_GROUP,
        nodeRole=role,
        subnets=["subnet-0123456789abcdef0"],
        instanceTypes=["p5.48xlarge"],
        scalingConfig={"minSize": 0, "maxSize": 2, "desiredSize": 0},
    )


STRAY_BUCKET = "prod-scratch-exports"


def break_stray_bucket(d: Deployment) -> None:
    """A bucket made by hand with the stack's tags (so it looks like the stack's), with none of its settings."""
    s3 = d.client("s3")
    s3.create_bucket(Bucket=STRAY_BUCKET)
    tags = [{"Key": "environment", "Value": STACK}, {"Key": "managed-by", "Value": "aiinfra"}]
    s3.put_bucket_tagging(Bucket=STRAY_BUCKET, Tagging={"TagSet": tags})


def break_admin_attachment(d: Deployment) -> None:
    role = _physical(d, "aws:iam/role:Role", "train-aws-vision-role")
    d.client("iam").attach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")


def _admin_attachment(d: Deployment) -> str:
    role = _physical(d, "aws:iam/role:Role", "train-aws-vision-role")
    return f"{URN}aws:iam/rolePolicyAttachment:RolePolicyAttachment::{role}/AdministratorAccess"


BREAKS = [
    break_encryption,
    break_public_acl,
    break_rotation,
    break_wildcard_policy,
    break_imdsv1,
    break_extra_node_group,
    break_stray_bucket,
    break_admin_attachment,
]


@pytest.fixture(scope="module")
def broken(deployment: Deployment, clean: AuditResult) -> AuditResult:
    """Every break applied to the deployment the clean audit read (they touch different resources), audited once."""
    for apply in BREAKS:
        apply(deployment)
    return _audit(deployment)


# ------------------------------------------------------------------ clean


def test_the_untouched_deployment_audits_clean(clean: AuditResult):
    assert clean.drift == []
    assert [(v.policy_name, v.urn) for v in clean.report.violations] == []
    assert clean.exit_code == 0


def test_every_planned_aws_resource_it_reads_is_found_in_sync(clean: AuditResult, deployment: Deployment):
    statuses = {row["urn"]: row["status"] for row in clean.resources}
    assert set(statuses.values()) == {"in-sync"}
    audited = {
        "aws:s3/bucket:Bucket",
        "aws:kms/key:Key",
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/vpc:Vpc",
        "aws:ec2/flowLog:FlowLog",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketVersioning:BucketVersioning",
    }
    planned = {r.urn for r in deployment.run.resources if r.type in audited}
    assert planned <= set(statuses)


def test_what_moto_lacks_is_a_not_checked_line_not_a_crash(clean: AuditResult, deployment: Deployment):
    lines = [str(n) for n in clean.not_checked]
    assert any("placement groups" in line and "DescribePlacementGroups" in line for line in lines), lines
    assert any("add-ons" in line and "ListAddons" in line for line in lines), lines
    # What could not be read is neither missing nor compared.
    assert not any("placementGroup" in row["urn"] or "eks/addon" in row["urn"] for row in clean.resources)


def test_it_calls_only_read_apis_the_printed_policy_allows(clean: AuditResult, calls):
    made = {(service, operation) for service, operation in calls}
    assert made, "the audit made no AWS call"
    names = {"s3": "s3", "kms": "kms", "iam": "iam", "eks": "eks", "ec2": "ec2", "sts": "sts"}
    allowed = {(names.get(c.service, c.service), c.operation) for c in permissions.CALLS}
    service_ids = {"S3": "s3", "KMS": "kms", "IAM": "iam", "EKS": "eks", "EC2": "ec2", "STS": "sts"}
    made = {(service_ids.get(s, s.lower()), op) for s, op in made}
    assert made <= allowed
    assert all(op.startswith(("List", "Get", "Describe")) for _, op in made)


MOTO_S3_NAMES = ("s3:ListBucket",)


def _as_user(iam, name: str, policy: dict, monkeypatch) -> boto3.Session:
    """A session with the keys of a new user holding only `policy`. moto's authorization mode rejects the signature
    of every EKS request (SignatureDoesNotMatch, moto 5.2), so EKS requests skip it here; their actions are checked
    against the policy by name (test_it_calls_only_read_apis_the_printed_policy_allows)."""
    from moto.eks.responses import EKSResponse

    monkeypatch.setattr(EKSResponse, "_authenticate_and_authorize_normal_action", lambda *_args, **_kw: None)
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="audit", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])


def test_the_printed_policy_is_enough_under_motos_iam_authorization(deployment: Deployment, monkeypatch):
    """A user holding only `--print-policy`'s actions audits the deployment exactly as unrestricted credentials do:
    moto authorizes every request against them (the least-privilege actions are also sufficient). moto matches
    resource ARNs for S3 only, so each statement's Resource is widened to '*' here (parliament judges the ARNs). The
    lake's bucket policies deny requests without TLS, and moto is reached over http, so they are lifted for both
    runs (which therefore report them missing) and put back."""
    policy = permissions.policy_document(REGION)
    for statement in policy["Statement"]:
        statement["Resource"] = "*"
    # moto's S3 action table (moto/s3/responses.py ACTION_MAP) lacks the encryption, ownership-controls and
    # public-access-block subresources and authorizes them as s3:ListBucket; AWS wants
    # s3:GetEncryptionConfiguration, s3:GetBucketOwnershipControls and s3:GetBucketPublicAccessBlock.
    policy["Statement"].append({"Effect": "Allow", "Action": list(MOTO_S3_NAMES), "Resource": "*"})
    session = _as_user(deployment.client("iam"), "auditor", policy, monkeypatch)
    s3 = deployment.client("s3")
    buckets = [deployment.physical[r.urn] for r in deployment.run.resources if r.type == "aws:s3/bucket:Bucket"]
    lifted = {bucket: s3.get_bucket_policy(Bucket=bucket)["Policy"] for bucket in buckets}

    @set_initial_no_auth_action_count(0)
    def audit_as_auditor() -> AuditResult:
        return run_audit(REPO, STACK, endpoint_url=deployment.endpoint, plan=deployment.run, session=session)

    for bucket in lifted:
        s3.delete_bucket_policy(Bucket=bucket)
    try:
        unrestricted = _audit(deployment)
        restricted = audit_as_auditor()
    finally:
        for bucket, document in lifted.items():
            s3.put_bucket_policy(Bucket=bucket, Policy=document)
    missing_policies = [
        d for d in restricted.drift if d.kind == "missing" and d.type == "aws:s3/bucketPolicy:BucketPolicy"
    ]
    assert len(missing_policies) == len(lifted)
    assert [d.as_json() for d in restricted.drift] == [d.as_json() for d in unrestricted.drift]
    assert restricted.report.as_json() == unrestricted.report.as_json()
    assert restricted.resources == unrestricted.resources


def test_a_missing_permission_names_the_action_and_exits_3(deployment: Deployment, monkeypatch):
    partial = permissions.policy_document(REGION)
    for statement in partial["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != "kms:ListKeys"]
        statement["Resource"] = "*"
    session = _as_user(deployment.client("iam"), "half-auditor", partial, monkeypatch)

    @set_initial_no_auth_action_count(0)
    def audit_as_half_auditor() -> None:
        run_audit(REPO, STACK, endpoint_url=deployment.endpoint, plan=deployment.run, session=session)

    with pytest.raises(CloudUnreadable, match=r"kms:ListKeys in us-east-1 was refused \(AccessDenied: .*kms:ListKeys"):
        audit_as_half_auditor()


# ------------------------------------------------------------------ broken

EXPECTED = [
    # (break, rule, resource the violation names, drift kind, drift resource, drift path)
    (
        "encryption removed",
        "aws-s3-sse-kms",
        LAKE_BUCKET,
        "missing",
        (
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "lake-aws-encryption",
        ),
        "",
    ),
    (
        "public ACL",
        "aws-s3-no-acls",
        LOGS_BUCKET,
        "changed",
        ("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "lake-aws-logs-ownership"),
        "rule.objectOwnership",
    ),
    (
        "rotation off",
        "aws-kms-key-rotation",
        ("aws:kms/key:Key", "train-aws-secrets"),
        "changed",
        ("aws:kms/key:Key", "train-aws-secrets"),
        "enableKeyRotation",
    ),
    (
        "wildcard policy",
        "aws-iam-no-wildcard-actions",
        ("aws:iam/rolePolicy:RolePolicy", "lake-aws-train-aws-nlp-read-curated"),
        "changed",
        ("aws:iam/rolePolicy:RolePolicy", "lake-aws-train-aws-nlp-read-curated"),
        "policy",
    ),
    (
        "IMDSv1",
        "aws-ec2-imdsv2",
        ("aws:ec2/launchTemplate:LaunchTemplate", "train-aws-h100-lt"),
        "changed",
        ("aws:ec2/launchTemplate:LaunchTemplate", "train-aws-h100-lt"),
        "metadataOptions.httpTokens",
    ),
    (
        "untagged extra node group",
        "required-tags",
        f"{URN}aws:eks/nodeGroup:NodeGroup::train-aws-prod/{EXTRA_NODE_GROUP}",
        "unexpected",
        f"{URN}aws:eks/nodeGroup:NodeGroup::train-aws-prod/{EXTRA_NODE_GROUP}",
        "",
    ),
    (
        "stack-tagged bucket made by hand",
        "aws-s3-sse-kms",
        f"{URN}aws:s3/bucket:Bucket::{STRAY_BUCKET}",
        "unexpected",
        f"{URN}aws:s3/bucket:Bucket::{STRAY_BUCKET}",
        "",
    ),
    (
        "AdministratorAccess attached to a team role",
        "aws-iam-no-admin-attachments",
        _admin_attachment,
        "unexpected",
        _admin_attachment,
        "",
    ),
]


def _resolve(deployment: Deployment, where) -> str:
    if callable(where):
        return str(where(deployment))
    return where if isinstance(where, str) else _urn(deployment, *where)


@pytest.mark.parametrize(("name", "rule", "subject", "kind", "drifted", "path"), EXPECTED, ids=[e[0] for e in EXPECTED])
def test_each_break_is_found_with_its_rule_and_path(
    broken: AuditResult, deployment: Deployment, name, rule, subject, kind, drifted, path
):
    violations = {(v.policy_name, v.urn) for v in broken.report.violations if v.blocking}
    assert (rule, _resolve(deployment, subject)) in violations, sorted(violations)
    found = {(d.kind, d.urn, d.path) for d in broken.drift}
    assert (kind, _resolve(deployment, drifted), path) in found, sorted(found)


def test_the_breaks_say_what_changed(broken: AuditResult, deployment: Deployment):
    by_path = {(d.urn, d.path): d for d in broken.drift if d.kind == "changed"}
    template = _urn(deployment, "aws:ec2/launchTemplate:LaunchTemplate", "train-aws-h100-lt")
    assert (
        by_path[(template, "metadataOptions.httpTokens")].planned,
        by_path[(template, "metadataOptions.httpTokens")].live,
    ) == (
        "required",
        "optional",
    )
    key = _urn(deployment, "aws:kms/key:Key", "train-aws-secrets")
    assert (by_path[(key, "enableKeyRotation")].planned, by_path[(key, "enableKeyRotation")].live) == (True, False)
    logs_bucket = _urn(deployment, *LOGS_BUCKET)
    public = {v.message.splitlines()[0] for v in broken.report.violations if v.urn == logs_bucket}
    assert any("grants access through ACLs" in m for m in public), public
    assert any("public access block leaves blockPublicAcls" in m for m in public), public


def test_nothing_else_is_reported(broken: AuditResult, deployment: Deployment):
    """No false positives: every finding belongs to one of the breaks."""
    broken_urns = {_resolve(deployment, e[2]) for e in EXPECTED} | {_resolve(deployment, e[4]) for e in EXPECTED}
    broken_urns |= {
        _urn(deployment, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "lake-aws-logs-public-access-block")
    }
    assert {v.urn for v in broken.report.violations} <= broken_urns
    assert {d.urn for d in broken.drift} <= broken_urns
    assert broken.exit_code == 1


# ------------------------------------------------------------------ the command


def test_the_command_prints_json_sarif_and_junit_and_exits_1(broken, deployment, tmp_path, capsys, monkeypatch):
    # The command plans the stack as `plan` does; the module's plan of the same stack stands in for that run.
    monkeypatch.setattr("aiinfra.plan.engine.run_program", lambda *_args, **_kw: deployment.run)
    code = main(
        [
            "-C",
            str(REPO),
            "audit",
            "--stack",
            STACK,
            "--endpoint-url",
            deployment.endpoint,
            "--json",
            "--sarif",
            str(tmp_path / "audit.sarif"),
            "--junit",
            str(tmp_path / "audit.xml"),
        ]
    )
    assert code == 1
    document = json.loads(capsys.readouterr().out)
    assert document["summary"]["clean"] is False
    assert {d["kind"] for d in document["drift"]} == {"missing", "unexpected", "changed"}
    assert {v["policyName"] for v in document["policyViolations"]} >= {e[1] for e in EXPECTED}
    assert any("DescribePlacementGroups" in n["why"] for n in document["notChecked"])
    sarif = json.loads((tmp_path / "audit.sarif").read_text())
    results = sarif["runs"][0]["results"]
    assert {r["ruleId"] for r in results} >= {"aiinfra-audit/drift", "aiinfra/aws-ec2-imdsv2"}
    assert any(r.get("properties", {}).get("path") == "metadataOptions.httpTokens" for r in results)
    junit = ET.parse(tmp_path / "audit.xml").getroot()
    drift_suite = next(s for s in junit.iter("testsuite") if s.get("name") == "aiinfra-audit drift")
    assert int(drift_suite.get("failures", "0")) == len(document["drift"])


def test_print_policy_is_read_only_and_passes_parliament(capsys):
    from tests.workload.test_lake_grants import parliament

    assert main(["audit", "--print-policy", "--region", REGION]) == 0
    text = capsys.readouterr().out
    policy = json.loads(text)
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert actions == {c.action for c in permissions.CALLS if c.action}
    assert all(a.split(":")[1].startswith(("List", "Get", "Describe")) for a in actions)
    assert all(s["Effect"] == "Allow" and s["Resource"] for s in policy["Statement"])
    findings = parliament.analyze_policy_string(text, include_community_auditors=True).findings
    assert [(f.severity, f.issue, f.detail) for f in findings] == []
    # parliament would object to a write or a wildcard action: the check has teeth.
    worse = {**policy, "Statement": [*policy["Statement"], {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    assert parliament.analyze_policy_string(json.dumps(worse), include_community_auditors=True).findings


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--stack", STACK, "--region", "eu-west-1"], "--region: 'eu-west-1'"),
        (["--stack", STACK, "--region", "mars"], "--region: 'mars'"),
        (["--stack", STACK, "--endpoint-url", "ftp://x"], "--endpoint-url: 'ftp://x'"),
        ([], "--stack: required"),
    ],
)
def test_invalid_input_is_one_line_and_exit_2(args, flag, capsys):
    assert main(["-C", str(REPO), "audit", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag}") and err.count("\n") == 1 and "Traceback" not in err


def test_no_credentials_exit_3(monkeypatch, tmp_path, capsys, moto_endpoint):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    assert main(["-C", str(REPO), "audit", "--stack", STACK, "--endpoint-url", moto_endpoint]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read AWS: no AWS credentials") and "Traceback" not in err


class _Throttled(BaseHTTPRequestHandler):
    """An AWS query-protocol endpoint that throttles every request."""

    requests = 0

    def do_POST(self):
        type(self).requests += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = (
            b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
            b"</Error><RequestId>1</RequestId></ErrorResponse>"
        )
        self.send_response(400)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


def test_throttling_after_botocores_retries_exit_3(monkeypatch, capsys):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "audit-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "audit-test")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Throttled)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        assert main(["-C", str(REPO), "audit", "--stack", STACK, "--endpoint-url", endpoint]) == 3
    finally:
        server.shutdown()
    err = capsys.readouterr().err
    assert "sts:GetCallerIdentity was throttled (Throttling) after 3 attempts" in err
    assert _Throttled.requests == 3  # botocore's retries, with its backoff, not a loop of ours
