"""Helpers every component uses: tag merging, argument validation, typed small records."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from aiinfra.core.errors import InputError, Problem, join_path
from aiinfra.core.vocab import TAINT_EFFECTS, TaintEffect

MANAGED_BY = {"managed-by": "aiinfra"}


@dataclass(frozen=True)
class Taint:
    key: str
    value: str = ""
    effect: TaintEffect = "NoSchedule"


def merge_tags(*layers: Mapping[str, str] | None) -> dict[str, str]:
    """Later layers win; every resource also carries `managed-by: aiinfra`."""
    merged = dict(MANAGED_BY)
    for layer in layers:
        merged.update(layer or {})
    return merged


def gcp_labels(tags: Mapping[str, str]) -> dict[str, str]:
    """GCP labels allow only lower-case letters, digits, '-' and '_' (keys and values, 63 chars)."""

    def clean(text: str) -> str:
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in text.lower())[:63]

    return {clean(k): clean(v) for k, v in tags.items()}


class ArgProblems:
    """Collects constructor-argument problems so a component raises them all together."""

    def __init__(self, component: str):
        self.component = component
        self.problems: list[Problem] = []

    def check(self, ok: bool, path: str | tuple[str | int, ...], message: str) -> None:
        if not ok:
            parts = path if isinstance(path, tuple) else (path,)
            self.problems.append(Problem(join_path(self.component, *parts), message))

    def check_taints(self, path: tuple[str | int, ...], taints: tuple[Taint, ...]) -> None:
        for i, taint in enumerate(taints):
            self.check(
                taint.effect in TAINT_EFFECTS,
                (*path, "taints", i, "effect"),
                f"{taint.effect!r} — choose one of {', '.join(TAINT_EFFECTS)}",
            )

    def check_narrow_cidr(self, path: tuple[str | int, ...], cidr: str, too_wide: str) -> None:
        """`cidr` parses and is not 0.0.0.0/0 (or ::/0); `too_wide` says what that would open."""
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            self.check(False, path, f"{cidr!r} — not a CIDR")
            return
        self.check(network.prefixlen > 0, path, f"{cidr} — {too_wide}")

    def raise_if_any(self) -> None:
        if self.problems:
            raise InputError(self.problems)
