"""How many tasks a playbook run will show, so progress can say "task 14 of 96" instead of "task 14".

``ansible-playbook --list-tasks`` lists every task of every play statically (about 2 s, no
connection to a host); a run shows each of them once (skipped ones too) plus one "Gathering
Facts" task per play. Conditional includes are not expanded, so the total is a good estimate,
not a promise: progress shows the count as "n of N" and never more than N.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def count_from_listing(text: str) -> int:
    """Tasks plus one fact-gathering task per play, from ``--list-tasks`` output."""
    plays = sum(1 for line in text.splitlines() if line.lstrip().startswith("play #"))
    tasks = sum(1 for line in text.splitlines() if line.startswith("      ") and "TAGS: [" in line)
    return tasks + plays


def count_playbook_tasks(playbook: Path, vars_file: Path, timeout: float = 60) -> int | None:
    """The number of tasks a run of ``playbook`` with the variables in ``vars_file`` shows; None when
    ansible cannot list them (progress then counts without a total)."""
    executable = Path(sys.executable).parent / "ansible-playbook"
    argv = [str(executable), "--list-tasks", "-i", "localhost,", "-e", f"@{vars_file}", str(playbook)]
    env = {**os.environ, "ANSIBLE_CONFIG": str(playbook.parent / "ansible.cfg")}
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.info("cannot count the playbook's tasks: %s", exc)
        return None
    if result.returncode != 0:
        log.info("cannot count the playbook's tasks: %s", result.stderr.strip()[-300:])
        return None
    return count_from_listing(result.stdout) or None
