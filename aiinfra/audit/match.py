"""Pair the plan's AWS resources with the live ones, and compare them.

Pulumi names what the program does not name as `<logical name>-<7 hex>` (its default autonaming:
https://www.pulumi.com/docs/iac/concepts/resources/names/#autonaming), so a live resource is found by that
pattern, by an explicit name, or by what it belongs to (a bucket's settings, a role's policies, a cluster's node
groups). The plan's identifiers are the mock engine's (ids, ARNs, autonames, the account); once a resource is
paired, its planned identifiers are replaced by the live ones wherever the plan uses them (a bucket's key ARN, a
node group's role). A planned value that names a resource the audit does not read (a subnet, a security group)
cannot be translated and is not compared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiinfra.audit import aws
from aiinfra.audit.aws import Live
from aiinfra.plan.engine import Recorded
from aiinfra.plan.mock_registry import ACCOUNT_ID

AUTONAME_SUFFIX = "-[0-9a-f]{7}"
IDENTIFIER_KEYS = ("arn", "name", "bucket", "keyId", "nodeGroupName")
"""Outputs (besides the id) that other resources reference."""
PROVIDER_ONLY = frozenset(
    {
        "forceDestroy",
        "deletionWindowInDays",
        "resolveConflictsOnCreate",
        "resolveConflictsOnUpdate",
        "updateDefaultVersion",
        "skipDestroy",
    }
)
"""Inputs that steer the provider (how to create, update or delete), not properties AWS stores."""
IGNORED_PATHS = frozenset(
    {
        "scalingConfig.desiredSize",  # the cluster autoscaler owns it once the group exists
        "accessConfig.bootstrapClusterCreatorAdminPermissions",  # applies at creation only
        "launchTemplate.version",  # the template's latest version: an output the offline plan cannot know
    }
)
UNORDERED = frozenset({"enabledClusterLogTypes", "subnetIds", "securityGroupIds", "securityGroups", "resources"})
"""Lists whose order AWS does not keep."""
DOCUMENTS = frozenset({"policy", "assumeRolePolicy"})
"""JSON policy documents, compared as documents (whitespace, key order, "a" vs ["a"] aside)."""


class _Unresolved:
    def __repr__(self) -> str:
        return "<unresolved>"


UNRESOLVED: Any = _Unresolved()
"""A planned value that names a resource the audit does not read."""


class Translator:
    """Planned identifiers → live ones; planned identifiers of resources the audit did not pair are unresolved."""

    def __init__(self, plan_account: str = ACCOUNT_ID):
        self.known: dict[str, str] = {}
        self.unresolved: set[str] = set()
        self._plan_account = plan_account
        self._pattern: re.Pattern[str] | None = None

    def account(self, live_account: str) -> None:
        if live_account and live_account != self._plan_account:
            self.add(self._plan_account, live_account)

    def add(self, planned: str, live: str) -> None:
        if planned and planned != live:
            self.known[planned] = live
            self._pattern = None

    def pair(self, plan: Recorded, live: Live) -> None:
        self.add(plan.id or "", live.ids.get("id", ""))
        for key in IDENTIFIER_KEYS:
            planned = plan.outputs.get(key)
            if isinstance(planned, str) and key in live.ids:
                self.add(planned, live.ids[key])

    def unpaired(self, plan: Recorded) -> None:
        """Identifiers of a planned AWS resource the audit does not pair (long enough to be unambiguous)."""
        for value in [plan.id, *(plan.outputs.get(k) for k in IDENTIFIER_KEYS)]:
            if isinstance(value, str) and len(value) >= 8:
                self.unresolved.add(value)

    def text(self, value: str) -> Any:
        if self.known:
            if self._pattern is None:
                self._pattern = re.compile("|".join(re.escape(k) for k in sorted(self.known, key=len, reverse=True)))
            value = self._pattern.sub(lambda m: self.known[m.group(0)], value)
        live_values = set(self.known.values())
        if any(token in value for token in self.unresolved if token not in live_values):
            return UNRESOLVED
        return value

    def best(self, value: Any) -> Any:
        """`value` with every known identifier replaced and the rest left as planned (never UNRESOLVED)."""
        if isinstance(value, str):
            translated = self.text(value)
            return value if translated is UNRESOLVED else translated
        if isinstance(value, dict):
            return {k: self.best(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.best(v) for v in value]
        return value

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value


Key = tuple[Any, ...]
"""What pairs a plan resource with a live one: strings compared exactly, patterns matched whole."""


def _name(plan: Recorded, key: str, tr: Translator, lower: bool = False) -> Any:
    given = plan.inputs.get(key)
    if isinstance(given, str):
        return tr.text(given)
    base = plan.name.lower() if lower else plan.name
    return re.compile(re.escape(base) + AUTONAME_SUFFIX)


def plan_key(  # noqa: PLR0911  # one return per type
    plan: Recorded, tr: Translator, aliases: dict[str, list[str]]
) -> Key:
    i = plan.inputs
    match plan.type:
        case aws.BUCKET:
            return (_name(plan, "bucket", tr, lower=True),)
        case t if t in aws.BUCKET_COMPANIONS:
            return (tr.text(str(i.get("bucket", ""))),)
        case aws.KMS_KEY:
            names = aliases.get(str(plan.outputs.get("keyId") or plan.id), [])
            return ("alias", frozenset(names)) if names else ("description", i.get("description", ""))
        case aws.ROLE | aws.EKS_CLUSTER | aws.LAUNCH_TEMPLATE | aws.PLACEMENT_GROUP:
            return (_name(plan, "name", tr),)
        case aws.ROLE_POLICY:
            return (tr.text(str(i.get("role", ""))), _name(plan, "name", tr))
        case aws.ROLE_POLICY_ATTACHMENT:
            return (tr.text(str(i.get("role", ""))), tr.text(str(i.get("policyArn", ""))))
        case aws.NODE_GROUP:
            return (tr.text(str(i.get("clusterName", ""))), _name(plan, "nodeGroupName", tr))
        case aws.ADDON:
            return (tr.text(str(i.get("clusterName", ""))), i.get("addonName"))
        case aws.VPC:
            return ((i.get("tags") or {}).get("Name"),)
        case aws.FLOW_LOG:
            return (tr.text(str(i.get("vpcId", ""))),)
    raise AssertionError(f"no key for {plan.type}")


def live_key(  # noqa: PLR0911  # one return per type
    live: Live,
) -> Key:
    p = live.props
    match live.type:
        case aws.BUCKET | aws.ROLE | aws.EKS_CLUSTER | aws.LAUNCH_TEMPLATE | aws.PLACEMENT_GROUP:
            return (live.ids.get("name") or live.ids.get("bucket") or live.name,)
        case t if t in aws.BUCKET_COMPANIONS:
            return (live.parent,)
        case aws.KMS_KEY:
            return ("alias", frozenset(live.aliases))
        case aws.ROLE_POLICY:
            return (live.parent, p.get("name"))
        case aws.ROLE_POLICY_ATTACHMENT:
            return (live.parent, p.get("policyArn"))
        case aws.NODE_GROUP:
            return (live.parent, p.get("nodeGroupName"))
        case aws.ADDON:
            return (live.parent, p.get("addonName"))
        case aws.VPC:
            return (live.tags.get("Name"),)
        case aws.FLOW_LOG:
            return (p.get("vpcId"),)
    raise AssertionError(f"no key for {live.type}")


def _matches(planned: Key, live: Live) -> bool:
    if live.type == aws.KMS_KEY and planned[0] == "description":
        return live.props.get("description") == planned[1]
    actual = live_key(live)
    if planned[0] == "alias":
        return bool(planned[1] & actual[1])
    if len(planned) != len(actual):
        return False
    for want, got in zip(planned, actual, strict=True):
        if isinstance(want, re.Pattern):
            if not isinstance(got, str) or not want.fullmatch(got):
                return False
        elif want is UNRESOLVED or want != got:
            return False
    return True


def pair(
    plans: Iterable[Recorded],
    lives: list[Live],
    tr: Translator,
    aliases: dict[str, list[str]],
    prefer: Callable[[Live], bool],
) -> tuple[list[tuple[Recorded, Live]], list[Recorded], list[Live]]:
    """Pair each plan resource with the first unpaired live one of its type and key (those `prefer` likes first,
    then by name); returns the pairs, the plan resources without a live one and the live ones left over."""
    free = sorted(lives, key=lambda live: (not prefer(live), live.name))
    pairs, missing = [], []
    for plan in plans:
        key = plan_key(plan, tr, aliases)
        found = next((live for live in free if live.type == plan.type and _matches(key, live)), None)
        if found is None:
            missing.append(plan)
            continue
        free.remove(found)
        tr.pair(plan, found)
        pairs.append((plan, found))
    return pairs, missing, free


# ------------------------------------------------------------------ comparing


@dataclass(frozen=True)
class Change:
    path: str
    planned: Any
    live: Any


@dataclass
class Comparison:
    changes: list[Change] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)
    """Top-level planned properties the audit does not read for this type."""


def _canonical(document: Any) -> Any:
    """A policy document in one spelling: single values as sorted lists, statements sorted."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return document

    def norm(value: Any, in_list: bool = False) -> Any:
        if isinstance(value, dict):
            return {k: norm(v) for k, v in sorted(value.items())}
        if isinstance(value, list):
            return sorted((norm(v, True) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
        return [value] if isinstance(value, str) and not in_list else value

    if not isinstance(document, dict):
        return document
    out = {k: norm(v) for k, v in document.items() if k != "Statement"}
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    out["Statement"] = sorted((norm(s) for s in statements), key=lambda s: json.dumps(s, sort_keys=True))
    return out


def _same_scalar(planned: Any, live: Any) -> bool:
    if isinstance(planned, bool) or isinstance(live, bool):
        return str(planned).lower() == str(live).lower()
    if isinstance(planned, int | float) and isinstance(live, int | float):
        return float(planned) == float(live)
    if (
        isinstance(planned, int | float | str)
        and isinstance(live, int | float | str)
        and type(planned) is not type(live)
    ):
        return str(planned).removesuffix(".0") == str(live).removesuffix(".0")
    return planned == live


def _path(parent: str, key: str | int) -> str:
    return f"{parent}[{key}]" if isinstance(key, int) else f"{parent}.{key}" if parent else key


def _bare(path: str) -> str:
    return re.sub(r"\[\d+\]", "", path)


def _compare(  # noqa: PLR0911  # one return per kind of value
    planned: Any, live: Any, path: str, out: list[Change]
) -> None:
    if planned is UNRESOLVED or _bare(path) in IGNORED_PATHS:
        return
    leaf = path.rsplit(".", 1)[-1]
    if leaf in DOCUMENTS and isinstance(planned, str):
        if _canonical(planned) != _canonical(live):
            out.append(Change(path, planned, live))
        return
    if isinstance(planned, dict):
        if not isinstance(live, dict):
            if planned or live is not None:
                out.append(Change(path, planned, live))
            return
        for key in sorted(planned):
            if planned[key] is not None:
                _compare(planned[key], live.get(key), _path(path, key), out)
        return
    if isinstance(planned, list):
        if not isinstance(live, list) or len(planned) != len(live):
            if UNRESOLVED not in planned:
                out.append(Change(path, planned, live))
            return
        if leaf in UNORDERED and all(not isinstance(v, dict | list) for v in planned + live):
            if UNRESOLVED not in planned and sorted(map(str, planned)) != sorted(map(str, live)):
                out.append(Change(path, planned, live))
            return
        for index, (p, v) in enumerate(zip(planned, live, strict=True)):
            _compare(p, v, _path(path, index), out)
        return
    if not _same_scalar(planned, live):
        out.append(Change(path, planned, live))


def compare(plan: Recorded, live: Live, tr: Translator) -> Comparison:
    """The planned inputs (translated) against the live properties, on the properties the plan sets."""
    result = Comparison()
    for key in sorted(plan.inputs):
        planned = plan.inputs[key]
        if key.startswith("__") or key in PROVIDER_ONLY or planned is None:
            continue
        if key in live.unreported:
            continue  # the audit says so in its "not checked" lines
        if key not in live.props:
            result.not_compared.append(key)
            continue
        _compare(tr.value(planned), live.props[key], key, result.changes)
    return result
