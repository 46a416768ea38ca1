"""The tags (AWS, Azure) or labels (GCP) a resource carries, merged over its provider's defaults.

Shared by the pack's required-tags rule and the runner's tag-keyed waivers, so both read tags alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

TAG_PROPERTIES = ("tags", "tagsAll", "labels", "resourceLabels")
"""Resource properties holding tags: AWS/Azure `tags` (`tagsAll` with AWS default tags), GCP labels."""


def _decoded(value: Any) -> Any:
    """Provider inputs carry objects as JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _provider_defaults(provider_props: Mapping[str, Any]) -> Any:
    """AWS `defaultTags: {tags: {...}}` or GCP `defaultLabels: {...}` of the resource's provider."""
    if "defaultTags" in provider_props:
        default_tags = _decoded(provider_props["defaultTags"])
        return default_tags.get("tags") if isinstance(default_tags, Mapping) else default_tags
    return _decoded(provider_props.get("defaultLabels"))


def resource_tags(props: Mapping[str, Any], provider_props: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """Every tag key → value; None when a whole tag map is unknown (an output not known during preview).

    A value may itself be unknown (not a string): the key counts as present, the value matches nothing."""
    merged: dict[str, Any] = {}
    for source in (_provider_defaults(provider_props or {}), *(props.get(key) for key in TAG_PROPERTIES)):
        if source is None:
            continue
        if not isinstance(source, Mapping):
            return None
        merged.update(source)
    return merged


def has_tag_property(props: Mapping[str, Any]) -> bool:
    return any(key in props for key in TAG_PROPERTIES)
