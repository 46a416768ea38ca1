"""Where `aiinfra report -o FILE` writes: refused up front (exit 2, naming --output) when it cannot, through
symlinks to their targets, never over a device or FIFO, and nothing half written when the write fails."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from aiinfra.cli import main
from aiinfra.core.errors import InputError
from aiinfra.output import write_atomically
from tests.report.test_page import hostile_plan


@pytest.fixture
def planned(monkeypatch) -> list[str]:
    """Plans without running the program (the page is built from a fixed plan); records each stack planned."""
    stacks: list[str] = []

    def plan(_root, stack, **_kwargs):
        stacks.append(stack)
        return hostile_plan()

    monkeypatch.setattr("aiinfra.report.page.compute_plan", plan)
    return stacks


def report(output: Path | str) -> int:
    return main(["report", "--stack", "dev", "-o", str(output)])


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("output", ["/proc/r.html", "/proc/self/r.html"])
def test_an_unwritable_output_exits_2_naming_the_flag_before_planning(output, planned, capsys):
    assert report(output) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --output: '{output}' — cannot write there (")
    assert err.rstrip().endswith("); choose a writable path") and "Traceback" not in err
    assert planned == []  # refused before the plan ran


def test_a_write_that_fails_after_the_plan_exits_2_and_leaves_the_old_page(planned, tmp_path, monkeypatch, capsys):
    target = tmp_path / "r.html"
    target.write_text("old page")

    def full(*_args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("aiinfra.output.os.fsync", full)
    assert report(target) == 2
    err = capsys.readouterr().err
    assert (
        err == f"error: --output: '{target}' — cannot write there (No space left on device); choose a writable path\n"
    )
    assert planned == ["dev"] and target.read_text() == "old page" and leftovers(tmp_path) == []


def test_a_symlink_is_written_through_and_stays_a_link(planned, tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "links").mkdir()
    real = tmp_path / "pages" / "r.html"
    real.write_text("stale")
    link = tmp_path / "links" / "r.html"
    link.symlink_to(Path("..") / "pages" / "r.html")
    assert report(link) == 1  # the plan has a blocking violation; the page is written all the same
    assert link.is_symlink() and os.readlink(link) == str(Path("..") / "pages" / "r.html")
    assert "blocking: yes" in real.read_text()
    assert leftovers(tmp_path / "pages") == [] and sorted(p.name for p in (tmp_path / "links").iterdir()) == ["r.html"]


def test_a_dangling_symlink_creates_its_target(planned, tmp_path):
    link = tmp_path / "r.html"
    link.symlink_to(tmp_path / "new.html")
    assert report(link) == 1
    assert link.is_symlink() and "blocking: yes" in (tmp_path / "new.html").read_text()


@pytest.mark.parametrize("via_link", [False, True])
def test_a_fifo_is_refused_with_exit_2_and_left_as_it_is(via_link, planned, tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    output = fifo
    if via_link:
        output = tmp_path / "r.html"
        output.symlink_to(fifo)
    assert report(output) == 2
    err = capsys.readouterr().err
    assert err == f"error: --output: '{output}' is a FIFO, not a regular file; choose a file path\n"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and planned == [] and leftovers(tmp_path) == []


def test_write_atomically_refuses_a_fifo_itself(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"--output: .* is a FIFO"):
        write_atomically(fifo, "<html></html>", "--output")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_symlink_loop_exits_2(planned, tmp_path, capsys):
    loop = tmp_path / "r.html"
    loop.symlink_to(loop)
    assert report(loop) == 2
    assert capsys.readouterr().err.startswith(f"error: --output: '{loop}' — cannot write there (")
    assert planned == []
