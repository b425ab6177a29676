"""The layering of the code base: ``lab.core`` is the ground, ``envs`` and ``agents`` stand on it,
the rest of ``lab`` and ``pages`` sit on top. Checked on every import statement (function-level
and ``TYPE_CHECKING`` imports included) and on what a fresh interpreter loads."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("lab", "envs", "agents", "pages")

# For each layer, the project packages its modules may import (third-party imports are free).
ALLOWED = {
    "lab.core": ("lab.core",),
    "envs": ("lab.core", "envs"),
    "agents": ("lab.core", "envs", "agents"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str | None:
    """The layer a module belongs to, or None for the top layer."""
    for name in ALLOWED:
        if module == name or module.startswith(name + "."):
            return name
    return None


def project_imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import of a project package in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            base = node.module or ""
            # ``from lab.core import memory`` imports lab.core.memory.
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] in PROJECT]


def allowed(importer: str, imported: str) -> bool:
    rule = ALLOWED[layer(importer)]  # type: ignore[index]
    return any(imported == p or imported.startswith(p + ".") for p in rule)


def sources() -> list[Path]:
    return sorted(p for pkg in PROJECT for p in (ROOT / pkg).rglob("*.py"))


def test_the_walk_sees_the_whole_project():
    modules = {module_name(p) for p in sources()}
    # A walk that found nothing would pass every rule below.
    assert {"lab.core.records", "lab.core.protocols", "lab.core.llm.client", "lab.runner",
            "envs.textworld_env", "agents.arigraph.agent"} <= modules
    assert sum(layer(m) == "lab.core" for m in modules) >= 15


@pytest.mark.parametrize("pkg", list(ALLOWED))
def test_no_layer_imports_upward(pkg):
    bad = []
    for path in sources():
        importer = module_name(path)
        if layer(importer) != pkg:
            continue
        for line, imported in project_imports(path):
            if not allowed(importer, imported):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert not bad, "\n".join(bad)


def test_the_rule_catches_an_upward_import(tmp_path):
    sample = ROOT / "lab" / "core" / "records.py"
    rogue = tmp_path / "rogue.py"
    rogue.write_text("def f():\n    from lab.runner import execute\n", encoding="utf-8")
    imports = project_imports(rogue)
    assert imports == [(2, "lab.runner.execute")]
    assert not allowed(module_name(sample), imports[0][1])
    assert allowed("agents.clin.agent", "lab.core.llm.LLM")
    assert not allowed("envs.registry", "agents.registry")


def test_importing_the_ground_loads_nothing_above_it():
    code = (
        "import sys\n"
        "import lab.core.records, lab.core.protocols, lab.core.env, lab.core.memory, lab.core.modules\n"
        "import lab.core.llm, lab.core.policy, lab.core.settings, lab.core.prompts, lab.core.versions\n"
        "top = [m for m in sys.modules if m.split('.')[0] in ('envs', 'agents', 'pages')\n"
        "       or (m.startswith('lab.') and not m.startswith('lab.core'))]\n"
        "print(sorted(top))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
