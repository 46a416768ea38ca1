"""Cost in `aiinfra plan` as a user sees it: the JSON's `cost` for prod and the total in the terminal."""

from __future__ import annotations

import json

import pytest

from aiinfra.cli import main
from aiinfra.cost import SPOT_NOTE
from tests.e2e.test_cli import run_cli


def test_prod_plan_json_prices_every_cluster_pool_lake_and_team(capsys):
    assert main(["plan", "--stack", "prod", "--json"]) == 0
    cost = json.loads(capsys.readouterr().out)["cost"]
    assert [c["name"] for c in cost["clusters"]] == ["train-aws", "train-gcp", "train-azure", "rack-onprem"]
    assert [lake["name"] for lake in cost["lakes"]] == ["lake-aws", "lake-gcp", "lake-azure", "lake-onprem"]
    assert [t["team"] for t in cost["teams"]] == ["nlp", "vision"]
    aws = cost["clusters"][0]
    assert [p["name"] for p in aws["pools"]] == ["system", "h100"]
    assert aws["pools"][1]["hourly"] == {"min": 0.0, "max": 220.16}
    assert cost["clusters"][2]["pools"][-1]["name"] == "system"  # AKS's own System pool
    for cluster in cost["clusters"][:3]:
        assert cluster["fixed"] and all(p["usd_per_node_hour"] and p["source"] for p in cluster["pools"])
    assert all(lake["monthly"] > 0 for lake in cost["lakes"][:3])  # prod sets stored_tib
    nlp = cost["teams"][0]
    (h100,) = nlp["quotas"]
    # A quota applies on each cluster with the model: nlp's 32 H100 reach every H100 cluster of prod.
    assert [(c["cluster"], c["count"]) for c in h100["clusters"]] == [
        ("train-aws", 32),
        ("train-gcp", 32),
        ("train-azure", 32),
        ("rack-onprem", 32),
    ]
    assert h100["clusters"][0]["usd_per_accelerator_hour"] == 6.88  # p5.48xlarge: $55.04 / 8
    assert h100["clusters"][-1]["usd_per_accelerator_hour"] is None  # owned
    reach = sum(c["count"] * (c["usd_per_accelerator_hour"] or 0) for c in h100["clusters"])
    assert nlp["hourly"]["max"] == pytest.approx(reach, abs=0.01)
    lakes_hourly = sum(lake["monthly"] for lake in cost["lakes"]) / cost["hours_per_month"]
    for end in ("min", "max"):
        clusters = sum(c["hourly"][end] for c in cost["clusters"])
        assert cost["total"]["hourly"][end] == pytest.approx(clusters + lakes_hourly, abs=0.05)


def test_the_terminal_plan_shows_the_cost_and_its_total(capsys):
    assert main(["plan", "--stack", "dev", "--json"]) == 0
    total = json.loads(capsys.readouterr().out)["cost"]["total"]
    result = run_cli("plan", "--stack", "dev")
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    # dev's L4 pool is spot: the figures that include it are marked as estimates.
    low, high = total["hourly"]["min"], total["hourly"]["max"]
    assert f"Total: ~${low:,.2f} – ~${high:,.2f} per hour" in out
    assert "dev-aws" in out and "g6.xlarge" in out and " ".join(SPOT_NOTE.split()) in out
