"""What a fresh install relies on: one version, one dependency list, the package data."""

import importlib.metadata
import re
from pathlib import Path

import pytest

import ntm_widgets

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the package itself needs 3.10

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    return re.split(r"[<>=\[ ;]", requirement, maxsplit=1)[0].lower()


def test_the_version_is_written_once():
    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    assert importlib.metadata.version("ntm-widgets") == ntm_widgets.__version__


def test_no_extra_repeats_a_dependency_with_another_range():
    base = {_name(r): r for r in PYPROJECT["project"]["dependencies"]}
    for extra, reqs in PYPROJECT["project"]["optional-dependencies"].items():
        for r in reqs:
            assert _name(r) not in base, f"extra {extra!r} repeats {r!r} (the dependency says {base[_name(r)]!r})"


def test_environment_yml_installs_the_package_instead_of_repeating_its_list():
    env = (ROOT / "environment.yml").read_text()
    assert "-e .[notebook]" in env
    for r in PYPROJECT["project"]["dependencies"]:
        if _name(r) != "torch":  # conda's name for it is pytorch
            assert f"- {_name(r)}" not in env, r


def test_package_data_globs_match_the_files_the_package_reads():
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["ntm_widgets"]
    pkg = ROOT / "ntm_widgets"
    for needed in (
        "render/replay.js",
        "render/replay.css",
        "core/fused.c",
        "core/fused_body.h",
        "widgets/explorer.js",
        "models/copy.pt",
    ):
        assert any((pkg / needed).match(g) or Path(needed).match(g) for g in globs), needed
        assert (pkg / needed).exists(), needed
