"""The pins a build reports come from the roles' defaults (one place), overridden by its variables."""

from __future__ import annotations

from pathlib import Path

import yaml

from xal import defaults
from xal.config import Settings
from xal.image.docker import ENVIRONMENT, image_changes
from xal.image.playbook_vars import EXTRA_INDEX_VAR, playbook_vars
from xal.image.python_packages import PythonPackages, python_packages

ROLES = Path(__file__).resolve().parents[3] / "ansible" / "roles"
GROUP_VARS = Path(__file__).resolve().parents[3] / "ansible" / "group_vars" / "all.yml"


def _role_defaults(role: str) -> dict:
    return yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())


def test_the_pins_are_read_from_the_role_defaults() -> None:
    packages = python_packages({})
    jupyter = _role_defaults("ai_lab_jupyter")["ai_lab_jupyter_requirements"]
    notebooks = _role_defaults("ai_lab_notebooks")["ai_lab_notebooks_requirements"]
    assert packages.requirements == (*jupyter, *notebooks)
    pins = packages.pins()
    assert pins["exasol-notebook-connector"] == "3.1.0"
    assert {"jupyterlab", "torch"} <= set(pins)
    assert packages.extra_index_url == "https://download.pytorch.org/whl/cpu"


def test_build_variables_override_the_role_defaults() -> None:
    packages = python_packages({"ai_lab_notebooks_requirements": ["six==1.17.0"], EXTRA_INDEX_VAR: ""})
    assert packages.requirements[-1] == "six==1.17.0"
    assert packages.pins()["six"] == "1.17.0"
    assert packages.extra_index_url == ""
    assert packages.labels()["org.exasol.ai-lab.pip-extra-index-url"] == "none"


def test_pins_leave_out_ranges_and_keep_extras_out_of_the_name() -> None:
    packages = PythonPackages(("a[x,y]==1.0", "b>=2", "c==3.0+cpu", "not a requirement ==="), "")
    assert packages.pins() == {"a": "1.0", "c": "3.0+cpu"}


def test_the_playbook_and_xal_default_to_the_same_extra_index() -> None:
    assert _role_defaults("ai_lab_notebooks")[EXTRA_INDEX_VAR] == defaults.PIP_EXTRA_INDEX_URL
    assert playbook_vars(Settings(), os_password=False)[EXTRA_INDEX_VAR] == defaults.PIP_EXTRA_INDEX_URL
    assert playbook_vars(Settings(pip_extra_index_url="none"), os_password=False)[EXTRA_INDEX_VAR] == ""


def test_the_image_environment_matches_the_playbook_layout() -> None:
    group = yaml.safe_load(GROUP_VARS.read_text())
    home = group["ai_lab_jupyter_home"]

    def resolve(value: str) -> str:
        return value.replace("{{ ai_lab_jupyter_home }}", home)

    assert {
        "JUPYTER_VENV": resolve(group["ai_lab_jupyter_venv"]),
        "NOTEBOOK_DEFAULTS": resolve(group["ai_lab_notebook_defaults_folder"]),
        "NOTEBOOKS": resolve(group["ai_lab_notebook_folder"]),
    } == ENVIRONMENT


def test_image_changes_set_the_environment_and_label_the_pins() -> None:
    changes = image_changes(python_packages({}))
    assert "ENV JUPYTER_VENV=/home/jupyter/jupyterenv NOTEBOOK_DEFAULTS=/home/jupyter/notebook-defaults" in " ".join(
        changes
    )
    label = next(c for c in changes if c.startswith("LABEL "))
    assert 'org.exasol.ai-lab.python.exasol-notebook-connector="3.1.0"' in label
    assert 'org.exasol.ai-lab.pip-extra-index-url="https://download.pytorch.org/whl/cpu"' in label
    assert "CMD []" in changes  # docker run IMAGE CMD... hands CMD to the entrypoint
