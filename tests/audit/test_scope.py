"""Which live resources count as the stack's: its tags, less what belongs to a cluster or lake --region leaves out."""

from __future__ import annotations

from aiinfra.audit import aws
from aiinfra.audit.aws import Live
from aiinfra.audit.command import _Audit
from aiinfra.plan.engine import ProgramRun

STACK_TAGS = {"environment": "prod", "managed-by": "aiinfra"}


def test_region_scoping_leaves_out_global_resources_of_other_regions_clusters():
    run = ProgramRun("aiinfra", "prod", [], [])
    targets_all = {"train-east": "us-east-1", "train-west": "us-west-2", "lake-east": "us-east-1"}
    targets = {k: v for k, v in targets_all.items() if v == "us-east-1"}
    audit = _Audit(None, run, targets, targets_all, "prod")  # pyright: ignore[reportArgumentType]  # reads nothing

    def role(**tags: str) -> Live:
        return Live(aws.ROLE, None, "r", {}, {**STACK_TAGS, **tags})

    assert audit.stack_tagged(role(**{"aiinfra-cluster": "train-east"}))
    assert audit.stack_tagged(role(**{"aiinfra-lake": "lake-east"}))
    assert audit.stack_tagged(role())  # the stack's, owned by no cluster or lake
    assert not audit.stack_tagged(role(**{"aiinfra-cluster": "train-west"}))
    assert not audit.stack_tagged(Live(aws.ROLE, None, "r", {}, {"environment": "dev", "managed-by": "aiinfra"}))
    assert not audit.stack_tagged(Live(aws.ROLE, None, "r", {}, {"environment": "prod"}))
