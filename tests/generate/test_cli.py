"""`lifeline generate` on the command line: a summary table, and one clear line for bad input."""

from __future__ import annotations

import pytest

from tests.cli.test_cli import run


def test_generate_prints_a_summary(tmp_path):
    result = run("generate", "--patients", "3", "--seed", "2", "--out", str(tmp_path / "out"), "--today", "2026-11-23")
    assert "Patient" in result.stderr and "total" in result.stderr
    assert (tmp_path / "out" / "Patient.ndjson").read_bytes().count(b"\n") == 3
    # Written beside the folder and moved there whole: the closing line names the folder itself.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert f"lifeline import {tmp_path / 'out'}/*.ndjson" in " ".join(result.stderr.split())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--patients", "0", "--out", "{tmp}/o"], "--patients must be at least 1"),
        (["--patients", "2", "--out", "{tmp}/o", "--today", "23-11-2026"], "--today must be a date"),
        (
            ["--patients", "2", "--out", "{tmp}/o", "--start-date", "2027-01-01", "--today", "2026-11-23"],
            "must be before",
        ),
        (["--patients", "2", "--out", "{tmp}/file.txt"], "is a file"),
        (["--patients", "2", "--out", "{tmp}"], "is not empty"),
        (["--patients", "2", "--out", "{tmp}/o", "--workers", "0"], "--workers must be at least 1"),
    ],
)
def test_bad_input_is_one_clear_line(args, expected, tmp_path):
    (tmp_path / "file.txt").write_text("x")
    result = run("generate", *[a.format(tmp=tmp_path) for a in args], check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("lifeline: error:") and expected in lines[0]
