"""Builds asr-gateway-client: stages the `clients` package, what it uses of `asr_common` and fresh
asr.v1 stubs, then packages them.

The SDK's sources live once, in the repository's `clients/` (the bridges and the tests import them
from there); this distribution copies its Python modules (not the Node, Go and C++ clients beside
them) into `staged/`, with the modules of the shared package `asr_common/` that they import
(directly or through each other: Duration helpers, capability types; not the server-side ones such
as the metrics endpoint, whose dependencies the SDK does not declare), and generates the stubs there
with proto/generate.py, so the wheel carries stubs that match the .proto files and nothing is
committed twice. Metadata and dependencies: pyproject.toml.

    pip wheel --no-deps clients/python     # or: python -m build --wheel clients/python
"""
import ast
import runpy
import shutil
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SOURCES = REPO / "clients"
SHARED = REPO / "asr_common"
STAGED = HERE / "staged"


def shared_modules(sources: list[Path]) -> set[str]:
    """Names of the asr_common modules that `sources` import, directly or through each other."""
    found: set[str] = set()
    pending = list(sources)
    while pending:
        tree = ast.parse(pending.pop().read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("asr_common."):
                name = node.module.split(".")[1]
                if name not in found:
                    found.add(name)
                    pending.append(SHARED / f"{name}.py")
    return found


def stage() -> None:
    generate_py = REPO / "proto" / "generate.py"
    if not generate_py.is_file():  # building from an sdist: staged/ came with it
        if not (STAGED / "clients" / "__init__.py").is_file():
            raise SystemExit(f"neither the repository's clients/ nor {STAGED} is here to build from")
        return
    shutil.rmtree(STAGED, ignore_errors=True)
    (STAGED / "clients").mkdir(parents=True)
    (STAGED / "asr_common").mkdir()
    sources = [s for s in SOURCES.iterdir() if s.is_file() and (s.suffix == ".py" or s.name == "py.typed")]
    for source in sources:
        shutil.copy2(source, STAGED / "clients" / source.name)
    for name in ("__init__", *sorted(shared_modules([s for s in sources if s.suffix == ".py"]))):
        shutil.copy2(SHARED / f"{name}.py", STAGED / "asr_common" / f"{name}.py")
    runpy.run_path(str(generate_py))["generate"](force=True, root=STAGED)


stage()
setup()
