"""The hosts' venvs (tests/hosts/hostvenv.py): shared by what they hold, never half-built."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hosts.hostvenv import built, shared_folder, shared_key


def test_a_shared_venv_is_keyed_on_its_requirements_not_on_where_they_are(tmp_path):
    here, there = tmp_path / "a" / "reqs.txt", tmp_path / "b" / "reqs.txt"
    for requirements in (here, there):
        requirements.parent.mkdir()
        requirements.write_text("dagster==1.12.4\n")
    assert shared_key(here) == shared_key(there)
    there.write_text("dagster==1.12.5\n")
    assert shared_key(here) != shared_key(there)


def test_the_shared_folder_is_the_users_cache_unless_chosen(monkeypatch, tmp_path):
    monkeypatch.delenv("FLO_HOSTVENVS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert shared_folder() == tmp_path / "cache" / "flo-twilio" / "hostvenvs"
    monkeypatch.setenv("FLO_HOSTVENVS", str(tmp_path / "chosen"))
    assert shared_folder() == tmp_path / "chosen"


def test_a_build_cut_short_leaves_nothing_where_the_venv_goes(tmp_path):
    def broken(building: Path, target: Path) -> None:
        (building / "half").write_text("")
        raise RuntimeError("pip was killed")

    with pytest.raises(RuntimeError):
        built(tmp_path, "key", broken)
    assert not (tmp_path / "key").exists()

    builds: list[Path] = []

    def build(building: Path, target: Path) -> None:
        builds.append(target)
        (building / "whole").write_text("")

    assert built(tmp_path, "key", build) == tmp_path / "key"
    assert built(tmp_path, "key", build) == tmp_path / "key"  # there already: not built again
    assert builds == [tmp_path / "key"] and (tmp_path / "key" / "whole").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "key"]  # the half one gone


def test_a_shared_venv_stays_for_the_clones_that_use_it_an_overlay_goes(tmp_path):
    def build(building: Path, target: Path) -> None:
        (building / "whole").write_text("")

    shared, overlays = tmp_path / "shared", tmp_path / "overlays"
    for key in ("old-pins", "new-pins"):
        built(shared, key, build, unused_days=30)
        built(overlays, key, build)
    assert {p.name for p in shared.iterdir() if p.is_dir()} == {"old-pins", "new-pins"}
    assert {p.name for p in overlays.iterdir() if p.is_dir()} == {"new-pins"}
