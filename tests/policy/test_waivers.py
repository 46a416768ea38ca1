"""Waivers in the policy config: by URN pattern or tag, expiring, and failing closed."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from aiinfra.core.errors import InputError
from aiinfra.plan.engine import ProgramRun
from aiinfra.policy.runner import evaluate
from tests.policy.conftest import resource

TODAY = date(2026, 11, 22)
KEY = resource("aws:kms/key:Key", {"enableKeyRotation": False, "tags": {"team": "nlp"}}, name="scratch-key")


def run_of(*resources: Any) -> ProgramRun:
    stack = resource("pulumi:pulumi:Stack", {}, name="aiinfra-test")
    return ProgramRun("aiinfra", "test", [stack, *resources], [])


def config_file(tmp_path: Path, *waivers: dict[str, Any]) -> Path:
    path = tmp_path / "test.json"
    config = {"all": "mandatory", "aiinfra-waivers": {"enforcementLevel": "disabled", "waivers": list(waivers)}}
    path.write_text(json.dumps(config))
    return path


def waiver(**fields: Any) -> dict[str, Any]:
    base = {
        "policy": "aws-kms-key-rotation",
        "urn": "urn:pulumi:test::aiinfra::*::scratch-*",
        "reason": "scratch key for a benchmark, deleted with it",
        "owner": "ml-platform@example.com",
        "expires": "2027-01-31",
    }
    return {k: v for k, v in {**base, **fields}.items() if v is not None}


def rotation(started_pack, path: Path, today: date = TODAY):
    result = evaluate(started_pack, run_of(KEY), path, today)
    return next(v for v in result.violations if v.policy_name == "aws-kms-key-rotation")


def test_a_waiver_by_urn_pattern_waives_and_still_reports(started_pack, tmp_path):
    violation = rotation(started_pack, config_file(tmp_path, waiver()))
    assert violation.waived and not violation.blocking
    assert violation.waiver is not None and violation.waiver.owner == "ml-platform@example.com"


def test_a_waiver_by_tag_matches_only_resources_with_that_tag(started_pack, tmp_path):
    assert rotation(started_pack, config_file(tmp_path, waiver(urn=None, tag={"team": "nlp"}))).waived
    assert not rotation(started_pack, config_file(tmp_path, waiver(urn=None, tag={"team": "vision"}))).waived


def test_a_waiver_holds_through_its_expiry_day_and_then_fails_closed(started_pack, tmp_path):
    path = config_file(tmp_path, waiver(expires="2027-01-31"))
    assert rotation(started_pack, path, date(2027, 1, 31)).waived
    expired = rotation(started_pack, path, date(2027, 2, 1))
    assert expired.blocking and not expired.waived
    assert expired.waiver is not None and expired.waiver.expired(date(2027, 2, 1))


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"expires": "31/01/2027"}, "waivers[0].expires"),
        ({"owner": None}, "waivers[0].owner"),
        ({"policy": "aws-kms-key-rotaton"}, "waivers[0].policy"),
        ({"tag": {"team": "nlp"}}, "waivers[0]"),
        ({"urn": None}, "waivers[0]"),
    ],
)
def test_a_malformed_waiver_is_an_input_error_naming_the_field(started_pack, tmp_path, fields, where):
    with pytest.raises(InputError) as raised:
        rotation(started_pack, config_file(tmp_path, waiver(**fields)))
    assert any(where in p.path for p in raised.value.problems), raised.value.problems


def test_a_misspelt_policy_gets_a_suggestion(started_pack, tmp_path):
    with pytest.raises(InputError, match="did you mean 'aws-kms-key-rotation'"):
        rotation(started_pack, config_file(tmp_path, waiver(policy="aws-kms-key-rotaton")))


def test_the_waivers_entry_needs_an_enforcement_level_as_the_engine_does(started_pack, tmp_path):
    path = tmp_path / "test.json"
    path.write_text(json.dumps({"aiinfra-waivers": {"waivers": [waiver()]}}))
    with pytest.raises(InputError, match='"enforcementLevel": "disabled"'):
        rotation(started_pack, path)
