"""Imports flow one way: schema <- instance <- federation <- web."""

import ast
from pathlib import Path

import schema

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["schema", "instance", "federation", "web"]
FORBIDDEN_BELOW_WEB = {"starlette", "uvicorn"}
FORBIDDEN_IN_INSTANCE = {"httpx", "starlette", "federation", "web"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_packages_are_ours() -> None:
    assert Path(schema.__file__).resolve().parent == ROOT / "schema"


def test_imports_flow_one_way() -> None:
    problems = []
    for level, package in enumerate(ORDER):
        for path in (ROOT / package).rglob("*.py"):
            modules = imported_modules(path)
            higher = modules & set(ORDER[level + 1 :])
            if higher:
                problems.append(f"{path.relative_to(ROOT)} imports {sorted(higher)}")
            if package != "web" and modules & FORBIDDEN_BELOW_WEB:
                problems.append(f"{path.relative_to(ROOT)} imports a web framework")
            if package == "instance" and modules & FORBIDDEN_IN_INSTANCE:
                problems.append(
                    f"{path.relative_to(ROOT)} imports {sorted(modules & FORBIDDEN_IN_INSTANCE)}"
                )
    assert not problems, "\n".join(problems)


def test_no_function_local_imports() -> None:
    problems = []
    for package in ORDER:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    for inner in ast.walk(node):
                        if isinstance(inner, ast.Import | ast.ImportFrom):
                            problems.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    assert not problems, problems
