"""Same seed and today, same bytes, whether made in one process or two; another seed, other bytes."""

from __future__ import annotations

from lifeline.generate import Options, generate
from tests.generate.conftest import TODAY, folder_bytes

PATIENTS = 120  # more than two chunks, so two workers share the work


def test_same_seed_same_bytes_in_one_or_two_processes(tmp_path):
    one = generate(Options(PATIENTS, 11, tmp_path / "one", TODAY, workers=1))
    two = generate(Options(PATIENTS, 11, tmp_path / "two", TODAY, workers=2))
    assert one.counts == two.counts
    assert folder_bytes(tmp_path / "one") == folder_bytes(tmp_path / "two")


def test_another_seed_another_population_in_the_same_region(tmp_path):
    generate(Options(30, 11, tmp_path / "a", TODAY))
    generate(Options(30, 12, tmp_path / "b", TODAY))
    a, b = folder_bytes(tmp_path / "a"), folder_bytes(tmp_path / "b")
    assert a["Patient.ndjson"] != b["Patient.ndjson"]
    assert a["Organization.ndjson"] == b["Organization.ndjson"]  # the region does not depend on the seed
    assert a["Practitioner.ndjson"] == b["Practitioner.ndjson"]


def test_bundles_mode_is_deterministic_too(tmp_path):
    generate(Options(12, 3, tmp_path / "a", TODAY, bundles=True))
    generate(Options(12, 3, tmp_path / "b", TODAY, bundles=True))
    assert folder_bytes(tmp_path / "a") == folder_bytes(tmp_path / "b")
