"""`aiinfra plan` with policy packs, as a user runs it: exit codes, JSON, SARIF and JUnit files."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from aiinfra.cli import main
from tests.policy.conftest import PACK

INSECURE_PROGRAM = textwrap.dedent(
    """
    import pulumi_aws as aws

    bucket = aws.s3.Bucket("public-data", acl="public-read")
    aws.s3.BucketPublicAccessBlock(
        "public-data",
        bucket=bucket.id,
        block_public_acls=False,
        block_public_policy=False,
        ignore_public_acls=False,
        restrict_public_buckets=False,
    )
    aws.ec2.SecurityGroup(
        "ssh",
        ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=22, to_port=22, cidr_blocks=["0.0.0.0/0"])],
    )
    """
)


@pytest.fixture(scope="module")
def insecure(tmp_path_factory) -> Path:
    """A Pulumi Python program of someone else's, with no policy pack of its own."""
    root = tmp_path_factory.mktemp("insecure")
    (root / "Pulumi.yaml").write_text("name: insecure\nruntime: python\n")
    (root / "Pulumi.test.yaml").write_text("config:\n  aws:region: us-east-1\n")
    (root / "__main__.py").write_text(INSECURE_PROGRAM)
    return root


def plan_json(capsys, *args: str) -> tuple[int, dict]:
    code = main([*args, "--json"])
    captured = capsys.readouterr()
    assert captured.out.strip(), f"the plan printed no JSON (exit {code}):\n{captured.err}"
    return code, json.loads(captured.out)


def test_an_insecure_program_planned_with_the_pack_exits_1_with_reports(insecure, capsys):
    code, doc = plan_json(
        capsys,
        "-C",
        str(insecure),
        "plan",
        "--stack",
        "test",
        "--policy-pack",
        str(PACK),
        "--sarif",
        "policy.sarif",
        "--junit",
        "policy.xml",
    )
    assert code == 1
    blocking = {v["policyName"] for v in doc["policyViolations"] if v["enforcementLevel"] == "mandatory"}
    assert {"aws-s3-public-access-block", "aws-s3-no-acls", "aws-sg-no-world-admin-ingress"} <= blocking
    sarif = json.loads((insecure / "policy.sarif").read_text())
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} >= {"aiinfra/aws-sg-no-world-admin-ingress"}
    assert "<failure" in (insecure / "policy.xml").read_text()


def test_the_terminal_shows_a_table_of_violations(insecure, capsys):
    assert main(["-C", str(insecure), "plan", "--stack", "test", "--policy-pack", str(PACK)]) == 1
    out = capsys.readouterr().out
    assert "Policy violations" in out and "aws-sg-no-world-admin-ingress" in out and "mandatory" in out


def test_a_project_without_a_pack_runs_no_policies(insecure, capsys):
    code, doc = plan_json(capsys, "-C", str(insecure), "plan", "--stack", "test")
    assert code == 0 and doc["policyViolations"] == []


def test_a_malformed_waiver_exits_2_naming_the_field(insecure, tmp_path, capsys):
    config = tmp_path / "bad.json"
    waiver = {"policy": "aws-s3-no-acls", "urn": "*", "reason": "r", "owner": "o", "expires": "soon"}
    config.write_text(json.dumps({"aiinfra-waivers": {"enforcementLevel": "disabled", "waivers": [waiver]}}))
    args = ["-C", str(insecure), "plan", "--stack", "test", "--policy-pack", str(PACK), "--policy-config", str(config)]
    assert main(args) == 2
    assert "waivers[0].expires" in capsys.readouterr().err


def test_policy_configs_pair_with_packs(insecure, capsys):
    args = ["-C", str(insecure), "plan", "--stack", "test", "--policy-config", "a.json", "--policy-config", "b.json"]
    assert main(args) == 2
    assert "--policy-config" in capsys.readouterr().err


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_this_repos_stacks_have_no_unwaived_mandatory_violations(stack, capsys):
    code, doc = plan_json(capsys, "plan", "--stack", stack)
    blocking = [
        f"{v['policyName']}: {v['urn']}: {v['message'].splitlines()[0]}"
        for v in doc["policyViolations"]
        if v["enforcementLevel"] == "mandatory" and not v["waived"]
    ]
    assert not blocking, "\n".join(blocking)
    assert code == 0
