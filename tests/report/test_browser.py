"""`aiinfra report` as a user runs it, and its page as Debian's Chromium renders it (headless).

Chromium is not optional: `make test` installs it (the Makefile's `browser` step) when it is missing."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from aiinfra import pipeline as plan_run
from aiinfra.cli import main
from aiinfra.pipeline import load_platform
from tests.policy.conftest import PACK
from tests.policy.test_plan import INSECURE_PROGRAM
from tests.report.test_page import CONTRACT_COST

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]
FILLS = {"component": (232, 240, 254), "cloud": (254, 243, 226), "kubernetes": (230, 244, 234)}
"""The graph's node fills (report CSS), as the screenshot must show them."""


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (its `browser` step), as CI does")
    return subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def console_messages(log: str) -> list[str]:
    """What the page logged: uncaught exceptions, console output (a page without scripts logs none)."""
    return [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def decode_png(data: bytes) -> np.ndarray:
    """8-bit RGB(A), non-interlaced PNG → height × width × channels (Pillow is not a dependency)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data[pos + 8 : pos + 8 + length])
        elif kind == b"IDAT":
            idat.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    assert header is not None, "PNG without IHDR"
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unexpected PNG format {header}"
    bpp = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(height, width * bpp + 1)
    image = np.zeros((height, width * bpp), dtype=np.uint8)
    prev = np.zeros(width * bpp, dtype=np.int64)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int64)
        if kind == 0:
            row = line
        elif kind == 1:  # Sub: a running sum per channel
            row = np.cumsum(line.reshape(width, bpp), axis=0).reshape(-1) & 0xFF
        elif kind == 2:  # Up
            row = (line + prev) & 0xFF
        else:  # Average, Paeth: sequential along the row
            up, cur, out = prev.tolist(), line.tolist(), [0] * len(line)
            for i, value in enumerate(cur):
                a = out[i - bpp] if i >= bpp else 0
                b = up[i]
                if kind == 3:
                    out[i] = (value + ((a + b) >> 1)) & 0xFF
                    continue
                c = up[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                out[i] = (value + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
            row = np.array(out, dtype=np.int64)
        image[y] = row
        prev = row
    return image.reshape(height, width, bpp)[..., :3]


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    """`aiinfra report` of dev and prod. Until the cost stage fills in `cost`, a contract-shaped one
    stands in, so the chart is rendered and checked either way."""
    real = plan_run.compute_plan

    def priced(*args, **kwargs):
        plan = real(*args, **kwargs)
        if plan.document["cost"] is not None:
            return plan
        return plan_run.Plan(**{**plan.__dict__, "document": {**plan.document, "cost": CONTRACT_COST}})

    out = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("aiinfra.report.page.compute_plan", priced)
        for stack in ("dev", "prod"):
            assert main(["report", "--stack", stack, "-o", str(out / f"{stack}.html")]) == 0
    return {stack: out / f"{stack}.html" for stack in ("dev", "prod")}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_chromium_renders_a_graph_per_cluster_and_the_cost_chart(stack, pages, tmp_path):
    result = chromium(tmp_path / "profile", "--dump-dom", pages[stack].as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    clusters = len(load_platform(REPO, stack).clusters)
    assert len(re.findall(r'<svg class="graph cluster-graph"', dom)) == clusters
    assert dom.count('<svg class="cost-chart"') == 1
    names = {c.name for c in load_platform(REPO, stack).clusters}
    assert all(f"<title>aiinfra:index:Cluster {name}</title>" in dom for name in names)
    assert not re.search(r"\ssrc=|<link|url\((?!#)|@import", dom), "the page must not load anything"
    assert console_messages(result.stderr) == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_screenshot_shows_the_page(stack, pages, tmp_path):
    png = tmp_path / "page.png"
    result = chromium(tmp_path / "profile", f"--screenshot={png}", "--window-size=1400,3000", pages[stack].as_uri())
    assert result.returncode == 0 and png.is_file(), result.stderr[-2000:]
    assert console_messages(result.stderr) == []
    image = decode_png(png.read_bytes())
    assert image.shape == (3000, 1400, 3)
    pixels = image.reshape(-1, 3)
    assert (pixels.min(axis=1) < 245).mean() > 0.05, "the screenshot is (nearly) blank"
    assert len(np.unique(pixels, axis=0)) > 50
    present = {tuple(p) for p in np.unique(pixels, axis=0).tolist()}
    assert {kind for kind, fill in FILLS.items() if fill not in present} == set()


def test_the_console_check_sees_script_errors(tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><html><body><script>nosuch();</script></body></html>")
    result = chromium(tmp_path / "profile", "--dump-dom", broken.as_uri())
    assert any("Uncaught ReferenceError" in line for line in console_messages(result.stderr))


def test_blocking_violations_exit_1_and_the_page_is_still_written(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: insecure\nruntime: python\n")
    (tmp_path / "Pulumi.test.yaml").write_text("config:\n  aws:region: us-east-1\n")
    (tmp_path / "__main__.py").write_text(INSECURE_PROGRAM)
    code = main(["-C", str(tmp_path), "report", "--stack", "test", "--policy-pack", str(PACK), "-o", "out.html"])
    assert code == 1
    page = (tmp_path / "out.html").read_text()
    assert "blocking: yes" in page and "aws-sg-no-world-admin-ingress" in page and "Not priced" in page
    assert 'class="graph stack-graph"' in page and "mark-blocking" in page
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.html")] == []


def test_an_output_in_a_missing_directory_exits_2_naming_the_flag(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "aiinfra.cli", "report", "--stack", "dev", "-o", str(tmp_path / "no" / "r.html")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: --output:") and "no such directory" in result.stderr
    assert "Traceback" not in result.stderr
