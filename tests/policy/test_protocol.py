"""The runner speaks the analyzer protocol to any Python pack, not only this repo's: remediations
run before analysis (as in the engine), and a pack that cannot start is a clear input error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aiinfra.core.errors import InputError
from aiinfra.policy.analyzer import PolicyAnalyzer, StackContext
from aiinfra.policy.config import PolicySetting, configure_request, reconcile
from tests.policy.conftest import resource

REMEDIATING_PACK = textwrap.dedent(
    """
    from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy

    def add_owner(args):
        if "owner" not in args.props.get("tags", {}):
            return {**args.props, "tags": {"owner": "platform"}}
        return None

    def owner_tagged(args, report):
        if "owner" not in args.props.get("tags", {}):
            report("no owner tag")

    PolicyPack(
        name="tagger",
        enforcement_level=EnforcementLevel.MANDATORY,
        policies=[
            ResourceValidationPolicy(
                name="owner-tag", description="Resources have an owner tag.", validate=owner_tagged, remediate=add_owner
            )
        ],
    )
    """
)


def write_pack(root: Path, program: str) -> Path:
    root.mkdir()
    (root / "PulumiPolicy.yaml").write_text("name: tagger\nruntime: python\nversion: 2.0.0\n")
    (root / "__main__.py").write_text(program)
    return root


def test_remediations_apply_before_analysis_as_in_the_engine(tmp_path):
    with PolicyAnalyzer(write_pack(tmp_path / "pack", REMEDIATING_PACK), StackContext("p", "s", {})) as pack:
        assert pack.version == "2.0.0"  # PulumiPolicy.yaml wins over the SDK's, as in the engine
        bucket = resource("aws:s3/bucket:Bucket", {"bucket": "b"})
        for level, expected in (("mandatory", {"owner-tag"}), ("remediate", set())):
            settings = reconcile(pack.info, {"owner-tag": PolicySetting(level)}, "test")
            pack.configure(configure_request(settings))
            assert {d.policy_name for d in pack.analyze([bucket]) if d.urn} == expected


def test_a_pack_that_cannot_start_is_an_input_error_with_its_output(tmp_path):
    broken = write_pack(tmp_path / "pack", "raise SystemExit('rules failed to import: no module named rules')\n")
    with pytest.raises(InputError, match=r"(?s)failed to start.*rules failed to import"):
        PolicyAnalyzer(broken, StackContext("p", "s", {}))
