"""The engine is a pure domain core: no web framework, no ORM, no app code."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
FORBIDDEN = ("flask", "sqlalchemy", "flask_sqlalchemy", "app", "api")


def test_no_dispatch_module_imports_flask_sqlalchemy_or_the_app():
    offenders = []
    for path in sorted((REPO / "dispatch").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_importing_the_whole_engine_loads_no_forbidden_module():
    code = (
        "import sys, pkgutil, importlib, dispatch\n"
        "for m in pkgutil.iter_modules(dispatch.__path__):\n"
        "    if m.name != '__main__':\n"
        "        importlib.import_module('dispatch.' + m.name)\n"
        f"bad = [n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.strip() == ""
