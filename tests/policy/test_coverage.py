"""docs/policy-coverage.md is what the rules' metadata says, and the metadata covers every control of the Pod
Security Standards and names each benchmark item as the catalogue lists it."""

from __future__ import annotations

from tests.policy.coverage import CHECKOV, DOC, KYVERNO, pack_modules, render


def test_the_committed_coverage_page_is_what_the_rules_render(started_pack):
    assert DOC.read_text() == render(started_pack.info), (
        "docs/policy-coverage.md is stale: run `.venv/bin/python -m tests.policy.coverage` and commit it"
    )


def test_every_pod_security_standards_control_has_a_rule():
    with pack_modules() as (pack, common, standards):
        names = {p.name for p in pack.PACK["policies"]}
        claimed = {c for name in names for c in common.RULE_CONTROLS[name]}
        levels = [c.reference.split("/")[0] for c in standards.PSS_CONTROLS]
        missing = [c.reference for c in standards.PSS_CONTROLS if c not in claimed]
    assert (levels.count("baseline"), levels.count("restricted")) == (12, 6)
    assert missing == [], f"Pod Security Standards controls without a rule: {missing}"


def test_rules_name_benchmark_items_by_their_catalogued_id_and_title():
    with pack_modules() as (_, common, standards):
        catalogued = {
            (i.control.framework, i.control.version, i.control.reference): i
            for _, _, items in standards.BENCHMARKS
            for i in items
        }
        frameworks = {key[:2] for key in catalogued} | {standards.PSS}
        wrong = []
        for rule, controls in common.RULE_CONTROLS.items():
            for c in controls:
                if (c.framework, c.version) == standards.PSS and c not in standards.PSS_CONTROLS:
                    wrong.append((rule, c.reference))
                item = catalogued.get((c.framework, c.version, c.reference))
                if (c.framework, c.version) in frameworks - {standards.PSS}:
                    if item is None or item.control.title != c.title:
                        wrong.append((rule, c.reference, c.title))
                    elif item.not_at_plan_time:
                        wrong.append((rule, c.reference, "listed as not checkable at plan time"))
    assert wrong == []


def test_the_comparison_names_every_checkov_kubernetes_check_the_rules_claim():
    with pack_modules() as (_, common, standards):
        claimed = {k for cs in common.RULE_CONTROLS.values() for c in cs for k in c.checkov if k.startswith("CKV_K8S")}
        pss = {c.reference for c in standards.PSS_CONTROLS}
    assert claimed <= {c.id for c in CHECKOV}
    newer = {"baseline/host-probes-lifecycle-hooks"}  # Kubernetes 1.34; Kyverno's set predates it
    assert {c.pss for c in KYVERNO if c.pss} == pss - newer, "Kyverno has a policy per older PSS control"
