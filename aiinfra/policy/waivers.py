"""Expiring waivers, kept in the policy config under `aiinfra-waivers`:

    "aiinfra-waivers": {
      "enforcementLevel": "disabled",
      "waivers": [
        {"policy": "aws-s3-versioning", "urn": "urn:pulumi:prod::aiinfra::*::scratch-*",
         "reason": "scratch data is re-creatable", "owner": "ml-platform@example.com", "expires": "2027-01-31"},
        {"policy": "k8s-image-pinned", "tag": {"team": "research"}, "reason": "...", "owner": "...",
         "expires": "2027-03-31"}
      ]
    }

`enforcementLevel: disabled` is required because the engine passes every config entry to the pack.
A waiver names one policy and either a URN pattern (fnmatch) or resource tags that must all match;
it holds through its `expires` day. An expired waiver waives nothing: the violation stays, marked
with the expired waiver. A malformed waiver is an input error (exit 2) naming the field and the fix.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase
from typing import Any

from aiinfra.core.errors import InputError, Problem

WAIVERS_KEY = "aiinfra-waivers"
REQUIRED_TEXT = ("policy", "reason", "owner")
FIELDS = {*REQUIRED_TEXT, "expires", "urn", "tag"}


@dataclass(frozen=True)
class Waiver:
    policy: str
    reason: str
    owner: str
    expires: date
    urn: str | None = None
    """fnmatch pattern over the resource URN."""
    tag: Mapping[str, str] | None = None
    """Tags (or GCP labels) the resource must all carry."""

    def expired(self, today: date) -> bool:
        return today > self.expires

    def matches(self, policy: str, urn: str, tags: Mapping[str, Any] | None) -> bool:
        if policy != self.policy:
            return False
        if self.urn is not None:
            return fnmatchcase(urn, self.urn)
        return tags is not None and all(tags.get(k) == v for k, v in (self.tag or {}).items())

    def as_json(self, today: date) -> dict[str, Any]:
        selector = {"urn": self.urn} if self.urn is not None else {"tag": dict(self.tag or {})}
        return {
            "policy": self.policy,
            **selector,
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires.isoformat(),
            "expired": self.expired(today),
        }


def _iso_date(value: Any) -> date | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def waiver_problems(index: int, entry: Any, where: str, policies: Iterable[str]) -> list[Problem]:
    path = f"{where}.waivers[{index}]"
    if not isinstance(entry, dict):
        return [Problem(path, "must be an object with policy, urn or tag, reason, owner and expires")]
    problems = [
        Problem(f"{path}.{k}", f"unknown field; allowed: {', '.join(sorted(FIELDS))}") for k in entry if k not in FIELDS
    ]
    for key in REQUIRED_TEXT:
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            problems.append(Problem(f"{path}.{key}", "required: a non-empty string"))
    policy = entry.get("policy")
    if isinstance(policy, str) and policy.strip() and policy not in policies:
        close = difflib.get_close_matches(policy, list(policies), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        problems.append(Problem(f"{path}.policy", f"{policy!r} is not a policy of this pack{hint}"))
    has_urn, has_tag = "urn" in entry, "tag" in entry
    if has_urn == has_tag:
        problems.append(Problem(path, "give exactly one of urn (a URN pattern) or tag (an object of tag: value)"))
    elif has_urn and (not isinstance(entry["urn"], str) or not entry["urn"]):
        problems.append(Problem(f"{path}.urn", "must be a non-empty URN pattern, e.g. 'urn:pulumi:prod::*::lake-*'"))
    elif has_tag and (
        not isinstance(entry["tag"], dict)
        or not entry["tag"]
        or not all(isinstance(v, str) for v in entry["tag"].values())
    ):
        problems.append(
            Problem(f"{path}.tag", 'must be a non-empty object of tag → string value, e.g. {"team": "nlp"}')
        )
    expires = entry.get("expires")
    if _iso_date(expires) is None:
        problems.append(
            Problem(f"{path}.expires", f'{expires!r} is not an ISO date; write YYYY-MM-DD, e.g. "2027-01-31"')
        )
    return problems


def parse_waivers(properties: Mapping[str, Any], where: str, policies: Iterable[str]) -> list[Waiver]:
    """The waivers of a config's `aiinfra-waivers` entry; InputError listing every malformed field."""
    raw = properties.get("waivers", [])
    if not isinstance(raw, list):
        raise InputError(Problem(f"{where}.waivers", "must be a list of waivers"))
    names = set(policies)
    problems = [p for index, entry in enumerate(raw) for p in waiver_problems(index, entry, where, names)]
    if problems:
        raise InputError(problems)
    return [
        Waiver(
            policy=entry["policy"],
            reason=entry["reason"],
            owner=entry["owner"],
            expires=date.fromisoformat(entry["expires"]),
            urn=entry.get("urn"),
            tag=entry.get("tag"),
        )
        for entry in raw
    ]
