"""What the AI-Lab's Python environment is built from: the pinned requirements and the extra index.

The pins live in one place, the defaults of the roles that install them (``ai_lab_jupyter``,
``ai_lab_notebooks``); a build's playbook variables may override them. A build reads both to
report what it installs (build manifest, release notes, the Docker image's labels) without a
second copy of the pins that could drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from xal.errors import XalError
from xal.image.playbook_vars import EXTRA_INDEX_VAR
from xal.paths import ansible_dir

# playbook variable -> the role whose defaults hold it
VARIABLES = {
    "ai_lab_jupyter_requirements": "ai_lab_jupyter",
    "ai_lab_notebooks_requirements": "ai_lab_notebooks",
    EXTRA_INDEX_VAR: "ai_lab_notebooks",
}
LABEL_PREFIX = "org.exasol.ai-lab"


@dataclass(frozen=True)
class PythonPackages:
    requirements: tuple[str, ...]  # pip specifiers, JupyterLab's first
    extra_index_url: str  # "" = PyPI only

    def pins(self) -> dict[str, str]:
        """Name -> version of every requirement pinned with ``==`` (extras left out)."""
        pinned = {}
        for text in self.requirements:
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            exact = [s.version for s in requirement.specifier if s.operator == "=="]
            if len(exact) == 1:
                pinned[canonicalize_name(requirement.name)] = exact[0]
        return pinned

    def labels(self) -> dict[str, str]:
        """Docker image labels: one per pin, and the extra index."""
        labels = {f"{LABEL_PREFIX}.python.{name}": version for name, version in self.pins().items()}
        labels[f"{LABEL_PREFIX}.pip-extra-index-url"] = self.extra_index_url or "none"
        return labels

    def to_dict(self) -> dict[str, Any]:
        return {"requirements": list(self.requirements), "extra_index_url": self.extra_index_url}


def role_default(variable: str) -> Any:
    """The value of ``variable`` in the defaults of the role that owns it."""
    import yaml

    path = ansible_dir() / "roles" / VARIABLES[variable] / "defaults" / "main.yml"
    try:
        return yaml.safe_load(path.read_text())[variable]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise XalError(f"cannot read {variable} from {path}: {exc}") from None


def python_packages(ansible_vars: dict[str, Any]) -> PythonPackages:
    """The requirements and the extra index a build with ``ansible_vars`` installs."""

    def value(variable: str) -> Any:
        return ansible_vars[variable] if variable in ansible_vars else role_default(variable)

    requirements = [*value("ai_lab_jupyter_requirements"), *value("ai_lab_notebooks_requirements")]
    return PythonPackages(tuple(str(r) for r in requirements), str(value(EXTRA_INDEX_VAR) or ""))
