"""What a user of the AI-Lab finds, checked inside a running AI-Lab (a Docker container of the image,
or the rehearsal's machine container after the playbook): reusable for every variant.

    report = check_ai_lab(container)   # asserts everything below, returns what it found

- ``ai-lab --help`` (the notebook connector's CLI) works in the JupyterLab virtualenv;
- at least ``MIN_TUTORIALS`` tutorial notebooks are in the notebook folder;
- JupyterLab's contents API (logged in with the password) lists every one of them;
- the tutorials' imports succeed: the import statements of each notebook's code cells (found by
  parsing the cells, not from a list, so a new tutorial is covered) run with nbclient in a kernel
  of the virtualenv (one kernel, in each notebook's folder in turn);
- the AI-Lab's start page links only to notebooks that are there, and runs.

Everything runs in the container through ``docker exec`` as the Jupyter user, with the
virtualenv's own python (which has nbclient, nbformat and IPython through JupyterLab).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field

JUPYTER_USER = "jupyter"
VENV = "/home/jupyter/jupyterenv"
NOTEBOOKS = "/home/jupyter/notebooks"
START_PAGE = "welcome.ipynb"
MIN_TUTORIALS = 40

# Logs in (password argv[1], port argv[2]) and lists every notebook under the contents API's root.
CONTENTS_SCRIPT = r"""
import http.cookiejar, json, sys, time, urllib.parse, urllib.request
base = "http://127.0.0.1:" + sys.argv[2]
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar))
deadline = time.time() + 180
while True:
    try:
        opener.open(base + "/login", timeout=5).read()
        break
    except OSError:
        if time.time() > deadline:
            raise
        time.sleep(1)
xsrf = next(c.value for c in jar if c.name == "_xsrf")
form = urllib.parse.urlencode({"password": sys.argv[1], "_xsrf": xsrf}).encode()
opener.open(urllib.request.Request(base + "/login", data=form), timeout=10).read()
found, folders = [], [""]
while folders:
    folder = folders.pop()
    url = base + "/api/contents/" + urllib.parse.quote(folder) + "?content=1"
    for entry in json.loads(opener.open(url, timeout=30).read())["content"]:
        if entry["type"] == "directory":
            folders.append(entry["path"])
        elif entry["type"] == "notebook":
            found.append(entry["path"])
print(json.dumps(sorted(found)))
"""

# For each notebook under argv[1]: the top-level import statements of its code cells (IPython syntax
# such as %magics translated first), one cell per source cell, executed with nbclient. One kernel
# runs every notebook's imports (51 kernels, each importing torch again, took five minutes): before a
# notebook's cells it changes into the notebook's folder and forgets the modules imported from the
# notebook folders, so a notebook's own helper modules are its own. Prints [{"notebook", "imports",
# "error"}] with the notebook's first error.
IMPORTS_SCRIPT = r"""
import ast, json, pathlib, sys
import nbformat
from IPython.core.inputtransformer2 import TransformerManager
from nbclient import NotebookClient

root, transform, results, cells = pathlib.Path(sys.argv[1]), TransformerManager().transform_cell, [], []
prologue = (
    "import os, sys\n"
    "os.chdir({folder!r})\n"
    "for _name, _module in list(sys.modules.items()):\n"
    "    if (getattr(_module, '__file__', None) or '').startswith({root!r}):\n"
    "        del sys.modules[_name]\n"
)
for path in sorted(root.rglob("*.ipynb")):
    if ".ipynb_checkpoints" in path.parts:
        continue
    mine, count = [], 0
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        source = transform(cell.source)
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        imports = [ast.get_source_segment(source, n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        if imports:
            mine.append(nbformat.v4.new_code_cell("\n".join(imports), metadata={"notebook": len(results)}))
            count += len(imports)
    if mine:
        cells.append(nbformat.v4.new_code_cell(prologue.format(folder=str(path.parent), root=str(root) + "/")))
        cells.extend(mine)
    results.append({"notebook": str(path.relative_to(root)), "imports": count, "error": None})
notebook = nbformat.v4.new_notebook(cells=cells)
NotebookClient(notebook, timeout=300, kernel_name="python3", allow_errors=True).execute()
for cell in notebook.cells:
    index = cell.metadata.get("notebook")
    for output in cell.get("outputs", []):
        if index is not None and output.output_type == "error" and results[index]["error"] is None:
            results[index]["error"] = f"{output.ename}: {output.evalue}"
print(json.dumps(results))
"""

# Runs the notebook argv[1] completely (nbclient, in its folder); prints its text outputs.
RUN_SCRIPT = r"""
import json, pathlib, sys
import nbformat
from nbclient import NotebookClient
path = pathlib.Path(sys.argv[1])
notebook = nbformat.read(path, as_version=4)
NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(path.parent)}}).execute()
print(json.dumps([o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs]))
"""

# The relative links of the markdown cells of notebook argv[1].
LINKS_SCRIPT = r"""
import json, re, sys
import nbformat
cells = nbformat.read(sys.argv[1], as_version=4).cells
text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
links = re.findall(r"\]\(([^)\s]+)\)", text)
print(json.dumps([link for link in links if "://" not in link and not link.startswith("#")]))
"""


@dataclass
class AiLabReport:
    """What :func:`check_ai_lab` found (for the test's own assertions and for printing)."""

    cli_help: str = ""
    tutorials: list[str] = field(default_factory=list)  # notebooks in the folder, relative paths
    listed: list[str] = field(default_factory=list)  # notebooks the contents API lists
    imports: list[dict] = field(default_factory=list)  # per notebook: notebook, imports, error
    start_page_output: list[str] = field(default_factory=list)

    @property
    def import_failures(self) -> list[dict]:
        return [r for r in self.imports if r["error"]]


def run_in(
    container: str, *argv: str, user: str = JUPYTER_USER, timeout: float = 1800
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "exec", "--user", user, "--workdir", "/tmp", container, *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def _json_of(result: subprocess.CompletedProcess[str], what: str) -> object:
    assert result.returncode == 0, f"{what} failed ({result.returncode}): {result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def ai_lab_cli_help(container: str, venv: str = VENV) -> str:
    result = run_in(container, f"{venv}/bin/ai-lab", "--help")
    assert result.returncode == 0, f"ai-lab --help failed: {result.stderr[-2000:]}"
    assert "deploy-notebooks" in result.stdout, result.stdout
    return result.stdout


def notebooks_in(container: str, folder: str = NOTEBOOKS) -> list[str]:
    result = run_in(container, "find", folder, "-name", "*.ipynb", "-not", "-path", "*/.ipynb_checkpoints/*")
    assert result.returncode == 0, result.stderr
    return sorted(line.removeprefix(folder).lstrip("/") for line in result.stdout.split())


def contents_api_notebooks(container: str, password: str, venv: str = VENV, port: int = 49494) -> list[str]:
    return _json_of(  # type: ignore[return-value]
        run_in(container, f"{venv}/bin/python", "-c", CONTENTS_SCRIPT, password, str(port)), "contents API"
    )


def import_cells(container: str, venv: str = VENV, folder: str = NOTEBOOKS) -> list[dict]:
    return _json_of(run_in(container, f"{venv}/bin/python", "-c", IMPORTS_SCRIPT, folder), "import cells")  # type: ignore[return-value]


def start_page_links(container: str, venv: str = VENV, folder: str = NOTEBOOKS) -> list[str]:
    page = f"{folder}/{START_PAGE}"
    return _json_of(run_in(container, f"{venv}/bin/python", "-c", LINKS_SCRIPT, page), "start page links")  # type: ignore[return-value]


def run_notebook(container: str, path: str, venv: str = VENV) -> list[str]:
    return _json_of(run_in(container, f"{venv}/bin/python", "-c", RUN_SCRIPT, path), f"running {path}")  # type: ignore[return-value]


def check_ai_lab(
    container: str,
    *,
    password: str = "ailab",  # noqa: S107 - the documented default
    venv: str = VENV,
    folder: str = NOTEBOOKS,
    port: int = 49494,
    allowed_import_errors: tuple[str, ...] = (),
) -> AiLabReport:
    """Every check of the module docstring against a running AI-Lab; JupyterLab must be serving
    ``folder`` on ``port`` inside the container. ``allowed_import_errors``: error prefixes that are
    expected (a reduced package set), e.g. ``("ModuleNotFoundError: No module named 'torch'",)``."""
    report = AiLabReport(cli_help=ai_lab_cli_help(container, venv))
    report.tutorials = notebooks_in(container, folder)
    tutorials = [n for n in report.tutorials if n != START_PAGE]
    assert len(tutorials) >= MIN_TUTORIALS, f"only {len(tutorials)} tutorials in {folder}: {tutorials}"
    report.listed = contents_api_notebooks(container, password, venv, port)
    assert set(report.tutorials) <= set(report.listed), set(report.tutorials) - set(report.listed)
    missing_targets = [link for link in start_page_links(container, venv, folder) if link not in report.tutorials]
    assert missing_targets == [], f"{START_PAGE} links to notebooks that are not there: {missing_targets}"
    report.start_page_output = run_notebook(container, f"{folder}/{START_PAGE}", venv)
    report.imports = import_cells(container, venv, folder)
    assert sum(r["imports"] for r in report.imports) > len(tutorials), "hardly any imports found: parser broken?"
    unexpected = [r for r in report.import_failures if not r["error"].startswith(allowed_import_errors)]
    assert unexpected == [], "imports failing in the virtualenv:\n" + "\n".join(
        f"  {r['notebook']}: {r['error']}" for r in unexpected
    )
    return report
