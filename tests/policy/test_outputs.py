"""Policy results for tools: SARIF 2.1.0 (validated against the OASIS schema) and JUnit XML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft4Validator

from aiinfra.policy.report import junit, sarif
from aiinfra.policy.runner import PolicyReport, evaluate
from tests.policy.conftest import resource
from tests.policy.test_waivers import KEY, TODAY, config_file, run_of, waiver

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())


@pytest.fixture
def report(started_pack, tmp_path) -> PolicyReport:
    """A waived key-rotation violation, unwaived ones (public bucket) and a stack-level one (GPU ceiling)."""
    bucket = resource("aws:s3/bucket:Bucket", {"bucket": "open"}, name="open")
    gpus = resource("aws:eks/nodeGroup:NodeGroup", {"instanceTypes": ["p5.48xlarge"], "scalingConfig": {"maxSize": 64}})
    path = config_file(tmp_path, waiver())
    settings = json.loads(path.read_text()) | {"gpu-count-ceiling": {"maxGpus": 8}}
    path.write_text(json.dumps(settings))
    run = run_of(KEY, bucket, gpus)
    pack = evaluate(started_pack, run, path, TODAY)
    return PolicyReport([pack], run.resources[0].urn, Path("stacks/Pulumi.test.yaml"), TODAY)


def test_sarif_is_valid_2_1_0_with_rules_levels_and_suppressions(report):
    log = sarif(report)
    errors = sorted(Draft4Validator(SCHEMA).iter_errors(log), key=str)
    assert not errors, errors[0]
    run = log["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert len(rules) == len(report.packs[0].policies)
    rule = rules["aiinfra/aws-eks-secrets-encryption"]
    assert "CKV_AWS_58" in rule["properties"]["tags"] and rule["properties"]["compliance"]["reference"] == "5.3.1"
    assert rule["help"]["text"].startswith("Set encryption_config")
    by_rule = {r["ruleId"]: r for r in run["results"]}
    waived = by_rule["aiinfra/aws-kms-key-rotation"]
    assert waived["level"] == "note" and waived["suppressions"][0]["status"] == "accepted"
    public = by_rule["aiinfra/aws-s3-public-access-block"]
    assert public["level"] == "error" and "suppressions" not in public
    assert public["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].endswith("::open")
    assert public["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "stacks/Pulumi.test.yaml"
    stack_level = by_rule["aiinfra/gpu-count-ceiling"]
    assert stack_level["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == report.stack_urn


def test_junit_fails_only_unwaived_mandatory_violations(report):
    suite = junit(report).find("testsuite")
    assert suite is not None and suite.get("name") == "aiinfra@0.1.0"
    failed = {c.get("classname") for c in suite.iter("testcase") if c.find("failure") is not None}
    assert "aiinfra.aws-s3-public-access-block" in failed and "aiinfra.gpu-count-ceiling" in failed
    assert "aiinfra.aws-kms-key-rotation" not in failed
    assert int(suite.get("failures", "0")) == sum(v.blocking for v in report.violations)
    passing = [c for c in suite.iter("testcase") if c.get("name") == "azure-keyvault-purge-protection"]
    assert passing and passing[0].find("failure") is None
