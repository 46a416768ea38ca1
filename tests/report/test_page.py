"""The HTML report's parts without a plan run: tree layout, folding, escaping, policy tables, cost chart."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import pytest

from aiinfra.core.errors import InputError
from aiinfra.cost import describe_quota
from aiinfra.output import write_atomically
from aiinfra.pipeline import Plan
from aiinfra.plan.engine import STACK_TYPE, ProgramRun, Recorded
from aiinfra.policy.runner import PackResult, Policy, PolicyReport, Violation
from aiinfra.policy.waivers import Waiver
from aiinfra.report.cost import LABEL_W, chart_svg, cost_section, ticks, unit_price
from aiinfra.report.layout import build_tree, layout
from aiinfra.report.page import render_report
from aiinfra.stack import Project

CONTRACT_COST = {
    "currency": "USD",
    "hours_per_month": 730,
    "estimate": True,
    "total": {"hourly": {"min": 1.71, "max": 266.52}, "monthly": {"min": 1250.6, "max": 194559.6}},
    "clusters": [
        {
            "name": "train-aws",
            "cloud": "aws",
            "region": "us-east-1",
            "hourly": {"min": 0.1, "max": 220.26},
            "monthly": {"min": 73.0, "max": 160789.8},
            "fixed": [
                {
                    "item": "EKS control plane",
                    "usd_per_hour": 0.10,
                    "source": "https://aws.example/eks",
                    "as_of": "2025-05",
                }
            ],
            "pools": [
                {
                    "name": "h100",
                    "machine_type": "p5.48xlarge",
                    "accelerator": "H100",
                    "accelerators_per_node": 8,
                    "nodes": {"min": 0, "max": 4},
                    "capacity": "on-demand",
                    "estimate": False,
                    "usd_per_node_hour": 55.04,
                    "source": "https://aws.example/p5",
                    "as_of": "2025-06",
                    "hourly": {"min": 0.0, "max": 220.16},
                    "monthly": {"min": 0.0, "max": 160716.8},
                }
            ],
        },
        {
            "name": "spot-gcp",
            "cloud": "gcp",
            "region": "us-central1",
            "hourly": {"min": 0.0, "max": 44.64},
            "monthly": {"min": 0.0, "max": 32587.2},
            "fixed": [],
            "pools": [
                {
                    "name": "l4",
                    "machine_type": "g2-standard-96",
                    "accelerator": "L4",
                    "accelerators_per_node": 8,
                    "nodes": {"min": 0, "max": 4},
                    "capacity": "spot",
                    "estimate": True,
                    "usd_per_node_hour": 11.16,
                    "source": "javascript:alert(1)",
                    "as_of": "2025-06",
                    "hourly": {"min": 0.0, "max": 44.64},
                    "monthly": {"min": 0.0, "max": 32587.2},
                }
            ],
        },
    ],
    "lakes": [
        {
            "name": "lake-aws",
            "cloud": "aws",
            "region": "us-east-1",
            "stored_tib": 50.0,
            "usd_per_gib_month": 0.023,
            "monthly": 1177.6,
            "source": "https://aws.example/s3",
            "as_of": "2025-05",
        },
        {
            "name": "lake-gcp",
            "cloud": "gcp",
            "region": "us-central1",
            "stored_tib": None,
            "usd_per_gib_month": 0.02,
            "monthly": 0.0,
            "source": "https://gcp.example/gcs",
            "as_of": "2025-05",
        },
    ],
    "teams": [
        {
            "team": "nlp",
            "quotas": [
                {
                    "accelerator": "H100",
                    "count": 32,
                    "clusters": [
                        {"cluster": "train-aws", "count": 32, "usd_per_accelerator_hour": 6.88},
                        {"cluster": "spot-gcp", "count": 16, "usd_per_accelerator_hour": 11.0313},
                    ],
                }
            ],
            "estimate": False,
            "hourly": {"min": 0.0, "max": 396.66},
            "monthly": {"min": 0.0, "max": 289561.8},
        }
    ],
    "notes": ["spot pools are priced at the on-demand list price: an upper bound, marked estimate"],
}
"""A `cost` object of the contract's shape (the cost stage fills the real one in)."""

SCRIPT = "<script>alert('x')</script>"


def rec(urn: str, parent: str | None, type_: str = "aiinfra:index:Thing", custom: bool = False) -> Recorded:
    return Recorded(urn=urn, type=type_, name=urn, parent=parent, custom=custom, provider=None, inputs={})


def wide_tree() -> list[Recorded]:
    """A stack → cluster → three components, each with leaves of many types, one 3 deep."""
    resources = [rec("stack", None, STACK_TYPE), rec("cluster", "stack", "aiinfra:index:Cluster")]
    for c in range(3):
        resources.append(rec(f"c{c}", "cluster"))
        resources += [rec(f"c{c}-leaf{i}", f"c{c}", f"aws:mod{i}:Type{i}", custom=True) for i in range(4 + 5 * c)]
    resources += [rec("deep", "c0-leaf0"), rec("deeper", "deep", "kubernetes:core/v1:Pod", custom=True)]
    return resources


def overlaps(a, b) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def test_the_layout_places_every_node_without_overlaps_and_inside_the_picture():
    graph = layout(build_tree(wide_tree(), "cluster", leaf_limit=100))
    assert len(graph.boxes) == 3 + 4 + 9 + 14 + 2 + 1
    assert len(graph.edges) == len(graph.boxes) - 1
    for a, b in itertools.combinations(graph.boxes, 2):
        assert not overlaps(a, b), (a.node.key, b.node.key)
    for box in graph.boxes:
        assert 0 <= box.x <= graph.width - box.w and 0 <= box.y <= graph.height - box.h
    for parent, child in graph.edges:
        assert parent.x + parent.w < child.x  # left to right, one column per depth


def test_the_layout_is_the_same_every_time():
    first = layout(build_tree(wide_tree(), "cluster"))
    again = layout(build_tree(list(wide_tree()), "cluster"))
    assert first == again
    assert [(b.node.key, b.x, b.y) for b in first.boxes] == [(b.node.key, b.x, b.y) for b in again.boxes]


def test_leaves_beyond_the_limit_fold_into_one_group_but_violating_ones_stay():
    resources = wide_tree()
    tree = build_tree(resources, "cluster", marks={"c2-leaf13": "blocking"}, leaf_limit=5)
    c2 = next(n for n in tree.children if n.key == "c2")
    keys = [n.key for n in c2.children]
    assert keys[:4] == ["c2-leaf0", "c2-leaf1", "c2-leaf2", "c2-leaf3"]
    assert "c2-leaf13" in keys and c2.children[keys.index("c2-leaf13")].mark == "blocking"
    group = c2.children[-1]
    assert group.kind == "group" and group.type_label == "+9 resources" and "c2-leaf12" in group.title
    c0 = next(n for n in tree.children if n.key == "c0")
    assert all(n.kind != "group" for n in c0.children)  # 4 leaves: under the limit


def test_leaves_of_one_type_become_one_node_with_their_names():
    resources = [rec("stack", None, STACK_TYPE), rec("t", "stack")]
    resources += [
        rec(f"t-team-{suffix}", "t", "kubernetes:networking.k8s.io/v1:NetworkPolicy", custom=True)
        for suffix in ("allow-dns", "default-deny")
    ]
    (node,) = build_tree(resources, "t").children
    assert node.type_label == "k8s:NetworkPolicy ×2" and node.name == "allow-dns, default-deny"
    assert node.kind == "kubernetes"


def test_ticks_are_round_and_cover_the_top():
    assert ticks(160789.8) == [0, 50000, 100000, 150000, 200000]
    assert ticks(7) == [0, 2, 4, 6, 8]
    assert ticks(0) == [0.0, 1.0]


def test_the_cost_chart_has_a_range_per_cluster_lake_and_team_and_the_total():
    svg = chart_svg(CONTRACT_COST)
    for label in ("train-aws", "spot-gcp", "lake-aws", "lake-gcp", "nlp", "Total"):
        assert f">{label}</text>" in svg
    assert "$73.00 – $160,789.80 /mo" in svg and "$1,250.60 – $194,559.60 /mo" in svg
    assert svg.count('class="range estimate"') == 2  # the spot cluster and the total
    assert "gcp · not set" in svg and "not added to the total" in svg
    shown = " ".join(box.what for box in chart_boxes(svg)[0])  # its lines, in order
    assert "H100×48 (32 on train-aws, 16 on spot-gcp)" in shown


CHAR_EM = 1233 / 2048
"""DejaVu Sans Mono's advance width in em, the chart's first-choice font (Menlo's is the same)."""
ASCENT, DESCENT = 0.76, 0.24
SVG = "{http://www.w3.org/2000/svg}"


@dataclass(frozen=True)
class Box:
    what: str
    x: float
    y: float
    w: float
    h: float


def chart_boxes(svg: str) -> tuple[list[Box], float]:
    """Every line of text, bar and floor line the chart draws, as boxes (text measured in DejaVu Sans Mono at
    the CSS's sizes), and the chart's width."""
    sizes = {"label": 12, "value": 12, "detail": 11, "section": 13, "tick": 11}
    root = ElementTree.fromstring(svg)
    boxes = []
    for text in root.iter(f"{SVG}text"):
        px = sizes[text.get("class")]
        spans = text.findall(f"{SVG}tspan")
        if spans and all(span.get("y") for span in spans):  # one line per tspan
            lines = [(float(span.get("y")), span.text or "") for span in spans]
        else:  # one line: its own text and any inline tspans, not its tooltip
            lines = [
                (
                    float(text.get("y")),
                    (text.text or "") + "".join(((t.text or "") if t in spans else "") + (t.tail or "") for t in text),
                )
            ]
        for y, line in lines:
            w = len(line) * px * CHAR_EM
            x = float(text.get("x")) - (w / 2 if text.get("class") == "tick" else 0)
            boxes.append(Box(line, x, y - ASCENT * px, w, px))
    for rect in root.iter(f"{SVG}rect"):
        if "range" in (rect.get("class") or ""):
            boxes.append(Box("bar", *(float(rect.get(k)) for k in ("x", "y", "width", "height"))))
    for line in root.iter(f"{SVG}line"):
        if line.get("class") == "floor":
            x1, x2, y = float(line.get("x1")), float(line.get("x2")), float(line.get("y1"))
            boxes.append(Box("floor", x1, y, x2 - x1, 0))
    return boxes, float(root.get("width"))


def long_labels_cost() -> dict:
    """The contract's cost with prod's two-quota team, a team with a very long name and one with many quotas."""
    cluster = {"cluster": "train-aws", "count": 16, "usd_per_accelerator_hour": 6.88}
    quota = {"accelerator": "H100", "count": 16, "clusters": [{**cluster, "cluster": f"c{i}"} for i in range(4)]}
    teams = [
        {
            **CONTRACT_COST["teams"][0],
            "team": "vision",
            "quotas": [
                quota,
                {
                    **quota,
                    "accelerator": "TPU-v5p",
                    "count": 8,
                    "clusters": [{**cluster, "cluster": "tpu", "count": 8}],
                },
            ],
        },
        {**CONTRACT_COST["teams"][0], "team": "computer-vision-and-multimodal-research-platform"},
        {
            **CONTRACT_COST["teams"][0],
            "team": "many",
            "quotas": [{**quota, "accelerator": a} for a in ("H100", "H200", "B200", "A100-80GB", "L4", "MI300X")],
        },
    ]
    return {**CONTRACT_COST, "teams": teams}


def test_the_cost_chart_never_overlaps_and_its_labels_stay_in_their_column():
    svg = chart_svg(long_labels_cost())
    boxes, width = chart_boxes(svg)
    bars = [b for b in boxes if b.what in ("bar", "floor")]
    assert len(bars) == 2 * (2 + 2 + 1 + 3)  # clusters, lakes, the total, teams
    for a, b in itertools.combinations(boxes, 2):
        assert not overlaps(a, b), (a, b)
    for box in boxes:
        assert box.x >= 0 and box.x + box.w <= width, box
    labels = [b for b in boxes if b.x == 0 and b.h in (11, 12)]
    assert labels and all(b.w <= LABEL_W for b in labels)
    # The two-quota detail wraps at a space and shows whole; the long name and the many quotas are cut with "…"
    # and shown whole in a tooltip.
    lines = [b.what for b in labels]
    vision = lines.index("vision")
    assert lines[vision + 1 : vision + 3] == ["H100×64 (16 on each of 4 clusters),", "TPU-v5p×8"]
    assert "<title>computer-vision-and-multimodal-research-platform</title>" in svg
    assert any(line.startswith("computer-vision") and line.endswith("…") for line in lines)
    many = lines.index("many")
    assert len(lines[many + 1 :]) == 3 and lines[-1].endswith("…")  # the last row: three lines of detail
    quotas = ", ".join(
        f"{a}×64 (16 on each of 4 clusters)" for a in ("H100", "H200", "B200", "A100-80GB", "L4", "MI300X")
    )
    assert f"<title>{quotas}</title>" in svg
    assert chart_svg(long_labels_cost()) == svg  # deterministic


def test_the_cost_section_says_not_priced_without_a_cost_and_links_only_web_sources():
    assert "Not priced" in cost_section(None)
    section = cost_section(CONTRACT_COST)
    assert 'href="https://aws.example/p5"' in section and "javascript:" not in section.split("href")[-1]
    assert 'href="javascript' not in section
    assert "$55.04" in section and "owned" not in section and "spot (estimate)" in section
    assert "on-demand list price" in section
    assert "H100: 32 on train-aws at $6.88/h, 16 on spot-gcp at $11.0313/h" in section


@pytest.mark.parametrize(
    ("clusters", "text"),
    [
        ([("a", 8)], "H100×8"),
        ([("a", 8), ("b", 8), ("c", 8)], "H100×24 (8 on each of 3 clusters)"),
        ([("a", 8), ("b", 4)], "H100×12 (8 on a, 4 on b)"),
        ([], "H100×0 (no cluster has it)"),
    ],
)
def test_a_quota_reads_as_what_it_adds_up_to_over_the_clusters(clusters, text):
    quota = {
        "accelerator": "H100",
        "count": 8,
        "clusters": [{"cluster": c, "count": n, "usd_per_accelerator_hour": None} for c, n in clusters],
    }
    assert describe_quota(quota) == text


class Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.text = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text += data


def hostile_plan() -> Plan:
    """A plan whose names, messages and waiver come from a user who typed markup."""
    stack = rec("urn:pulumi:s::p::pulumi:pulumi:Stack::p-s", None, STACK_TYPE)
    cluster = rec(f"urn:pulumi:s::p::aiinfra:index:Cluster::{SCRIPT}", stack.urn, "aiinfra:index:Cluster")
    cluster.name = SCRIPT
    bucket = rec("urn:pulumi:s::p::aiinfra:index:Cluster$aws:s3/bucket:Bucket::b", cluster.urn, "aws:s3/b:Bucket", True)
    violations = [
        Violation("pack", "no-public", bucket.urn, "mandatory", "high", f"bucket {SCRIPT} is public"),
        Violation(
            "pack",
            "tags",
            bucket.urn,
            "advisory",
            None,
            "missing tags",
            Waiver("tags", f"reason {SCRIPT}", "me@example.com", date(2030, 1, 1), urn="*"),
            waived=True,
        ),
    ]
    policy = Policy("no-public", "d", "mandatory", "high", "", {}, (), "")
    report = PolicyReport([PackResult("pack", "1.0", Path("p"), None, [policy], violations)], stack.urn, None)
    run = ProgramRun("p", "s", [stack, cluster, bucket], [])
    document = {"steps": [{}] * 3, "diagnostics": [], "cost": {**CONTRACT_COST, "teams": []}}
    project = Project(Path("."), f"proj{SCRIPT}", Path("__main__.py"), Path("."))
    return Plan(project, "s", None, run, document, report)


def test_user_text_renders_as_text_never_as_markup():
    page = render_report(hostile_plan(), datetime(2025, 1, 2, 3, 4, tzinfo=UTC))
    parsed = Elements()
    parsed.feed(page)
    assert "script" not in parsed.tags
    assert SCRIPT in parsed.text  # shown, as text
    assert f"bucket {SCRIPT} is public" in parsed.text and f"reason {SCRIPT}" in parsed.text
    assert parsed.tags.count("svg") >= 2 and "2025-01-02 03:04 UTC" in parsed.text


def test_the_page_summarises_verdicts_and_marks_the_violating_resource():
    page = render_report(hostile_plan(), datetime(2025, 1, 2, tzinfo=UTC))
    assert "blocking: yes (1)" in page and "1 mandatory, 0 advisory, 1 waived" in page
    assert page.count('class="graph cluster-graph"') == 1
    assert 'class="kind-cloud mark-blocking"' in page  # the bucket's box in the graph
    assert '<tr class="blocking"><td>mandatory</td>' in page and '<tr class="waived"><td>waived<div' in page
    assert "<script" not in page.lower() and "src=" not in page and "<link" not in page


def test_a_failed_write_leaves_neither_the_target_nor_a_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "report.html"

    def broken(*_args):
        raise OSError("disk full")

    monkeypatch.setattr("aiinfra.output.os.replace", broken)
    with pytest.raises(InputError, match=r"--output: .* cannot write there \(disk full\); choose a writable path"):
        write_atomically(target, "<html></html>", "--output")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    write_atomically(target, "<html></html>", "--output")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"] and target.read_text() == "<html></html>"


def test_unit_prices_keep_their_precision_and_unpriced_ones_say_so():
    assert unit_price(0.023, "USD") == "$0.023"
    assert unit_price(55.04, "USD") == "$55.04"
    assert unit_price(2.0, "USD") == "$2.00"
    assert unit_price(0.000027397, "USD") == "$0.000027"
    assert unit_price(None, "USD", none="owned") == "owned"
