"""How the audit pairs planned and live resources and compares them: pure functions, no cloud."""

from __future__ import annotations

import json

from aiinfra.audit import aws
from aiinfra.audit.aws import Live
from aiinfra.audit.match import Translator, compare, pair
from aiinfra.plan.engine import Recorded


def planned(type_: str, logical: str, inputs: dict, *, id_: str = "", **outputs) -> Recorded:
    return Recorded(
        urn=f"urn:pulumi:s::p::{type_}::{logical}",
        type=type_,
        name=logical,
        parent=None,
        custom=True,
        provider=None,
        inputs=inputs,
        outputs=outputs,
        id=id_ or logical,
    )


def live(type_: str, physical: str, props: dict, **ids) -> Live:
    return Live(type_, "us-east-1", physical, props, props.get("tags", {}), {"id": physical, **ids})


def test_autonamed_resources_pair_by_logical_name_and_seven_hex_only():
    role = planned(aws.ROLE, "train-aws-node-role", {}, name="train-aws-node-role-aaaaaaa")
    lives = [
        live(aws.ROLE, "train-aws-node-role-extra-1234567", {}, name="train-aws-node-role-extra-1234567"),
        live(aws.ROLE, "train-aws-node-role-9f3c2b1", {}, name="train-aws-node-role-9f3c2b1"),
    ]
    pairs, missing, left = pair([role], lives, Translator(), {}, lambda _: False)
    assert [(p.name, v.name) for p, v in pairs] == [("train-aws-node-role", "train-aws-node-role-9f3c2b1")]
    assert missing == [] and [v.name for v in left] == ["train-aws-node-role-extra-1234567"]


def test_planned_references_are_compared_as_the_paired_live_identifiers():
    tr = Translator()
    key = planned(aws.KMS_KEY, "k", {}, id_="mock-key-id-0001", keyId="mock-key-id-0001", arn="arn:mock:key/0001")
    tr.pair(key, live(aws.KMS_KEY, "real", {}, keyId="real", arn="arn:aws:kms:us-east-1:1:key/real"))
    config = planned(
        aws.BUCKET_ENCRYPTION,
        "enc",
        {"bucket": "b", "rules": [{"applyServerSideEncryptionByDefault": {"kmsMasterKeyId": "arn:mock:key/0001"}}]},
    )
    same = live(
        aws.BUCKET_ENCRYPTION,
        "b",
        {
            "bucket": "b",
            "rules": [{"applyServerSideEncryptionByDefault": {"kmsMasterKeyId": "arn:aws:kms:us-east-1:1:key/real"}}],
        },
    )
    assert compare(config, same, tr).changes == []
    other = live(
        aws.BUCKET_ENCRYPTION,
        "b",
        {"bucket": "b", "rules": [{"applyServerSideEncryptionByDefault": {"kmsMasterKeyId": "x"}}]},
    )
    (change,) = compare(config, other, tr).changes
    assert change.path == "rules[0].applyServerSideEncryptionByDefault.kmsMasterKeyId"
    assert change.planned == "arn:aws:kms:us-east-1:1:key/real" and change.live == "x"


def test_values_naming_resources_the_audit_does_not_read_are_not_compared():
    tr = Translator()
    tr.unpaired(planned("aws:ec2/subnet:Subnet", "s", {}, id_="subnet-0123456789"))
    cluster = planned(
        aws.EKS_CLUSTER, "c", {"vpcConfig": {"subnetIds": ["subnet-0123456789"], "endpointPublicAccess": False}}
    )
    deployed = live(aws.EKS_CLUSTER, "c", {"vpcConfig": {"subnetIds": ["subnet-real"], "endpointPublicAccess": True}})
    assert [c.path for c in compare(cluster, deployed, tr).changes] == ["vpcConfig.endpointPublicAccess"]


def test_only_the_properties_the_plan_sets_are_compared_and_provider_inputs_never():
    plan = planned(aws.KMS_KEY, "k", {"enableKeyRotation": True, "deletionWindowInDays": 30.0, "tags": {"a": "1"}})
    deployed = live(aws.KMS_KEY, "k", {"enableKeyRotation": True, "tags": {"a": "1", "extra": "2"}, "isEnabled": True})
    assert compare(plan, deployed, Translator()).changes == []
    deployed.props["tags"] = {"extra": "2"}
    assert [(c.path, c.planned, c.live) for c in compare(plan, deployed, Translator()).changes] == [
        ("tags.a", "1", None)
    ]


def test_policy_documents_compare_as_documents():
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}],
    }
    respelled = {"Statement": {"Resource": ["*"], "Action": "s3:GetObject", "Effect": "Allow"}, "Version": "2012-10-17"}
    plan = planned(aws.ROLE_POLICY, "p", {"policy": json.dumps(document)})
    assert (
        compare(plan, live(aws.ROLE_POLICY, "p", {"policy": json.dumps(respelled, indent=4)}), Translator()).changes
        == []
    )
    wider = {**document, "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    (change,) = compare(plan, live(aws.ROLE_POLICY, "p", {"policy": json.dumps(wider)}), Translator()).changes
    assert change.path == "policy"


def test_numbers_strings_and_unordered_lists_compare_by_value():
    plan = planned(
        aws.NODE_GROUP,
        "ng",
        {
            "scalingConfig": {"maxSize": 4.0, "desiredSize": 0.0},
            "updateConfig": {"maxUnavailable": "1"},
            "subnetIds": ["a", "b"],
        },
    )
    deployed = live(
        aws.NODE_GROUP,
        "ng",
        {
            "scalingConfig": {"maxSize": 4, "desiredSize": 3},
            "updateConfig": {"maxUnavailable": 1},
            "subnetIds": ["b", "a"],
        },
    )
    assert compare(plan, deployed, Translator()).changes == []  # desiredSize is the autoscaler's
    deployed.props["scalingConfig"]["maxSize"] = 8
    assert [c.path for c in compare(plan, deployed, Translator()).changes] == ["scalingConfig.maxSize"]


def test_properties_the_endpoint_does_not_report_are_skipped_not_drift():
    plan = planned(aws.EKS_CLUSTER, "c", {"accessConfig": {"authenticationMode": "API"}, "version": "1.33"})
    deployed = Live(aws.EKS_CLUSTER, "us-east-1", "c", {"version": "1.33"}, unreported=("accessConfig",))
    result = compare(plan, deployed, Translator())
    assert result.changes == [] and result.not_compared == []
