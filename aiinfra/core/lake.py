"""A lake's layout: its zones, the prefixes grants name, and how a grant is named after its prefix.

Shared by the spec (which checks team files before anything runs) and the `DataLake` component (which makes
the grants), so both refuse the same prefixes for the same reasons.
"""

from __future__ import annotations

import re
from typing import get_args

from aiinfra.core.vocab import LakeZone

ZONES: tuple[LakeZone, ...] = get_args(LakeZone)
"""The zones every lake has unless told otherwise, in the order data flows through them."""
PREFIX_RE = re.compile(r"^([a-z0-9][-a-z0-9_.]*/)+$")
"""Lake prefixes: lower-case segments, each ending in '/' (the form stacks/teams/*.yaml uses). Excludes the
characters IAM, CEL and ABAC treat specially ('*', '?', '$', quotes) and '..' segments."""


def grant_slug(prefix: str) -> str:
    """The part of a grant's resource name that comes from its prefix: `datasets/vision/` → `datasets-vision`.
    Not one-to-one (`a-b/` and `a/b/` share a slug), so one identity's prefixes must not collide."""
    return re.sub(r"[^a-z0-9]+", "-", prefix.lower()).strip("-")


def prefix_zone(prefix: str) -> str | None:
    """The zone a prefix is inside (`raw/teams/x/` → `raw`), or None for an area in every zone."""
    head = prefix.split("/", 1)[0]
    return head if head in ZONES else None
