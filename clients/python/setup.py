"""Builds asr-gateway-client: stages the `clients` package and fresh asr.v1 stubs, then packages them.

The SDK's sources live once, in the repository's `clients/` (the server, the bridges and the tests
import them from there); this distribution copies its Python modules (not the Node, Go and C++
clients beside them) into `staged/` and generates the stubs there with proto/generate.py, so the
wheel carries stubs that match the .proto files and nothing is committed twice. Metadata and
dependencies: pyproject.toml.

    pip wheel --no-deps clients/python     # or: python -m build --wheel clients/python
"""
import runpy
import shutil
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SOURCES = REPO / "clients"
STAGED = HERE / "staged"


def stage() -> None:
    generate_py = REPO / "proto" / "generate.py"
    if not generate_py.is_file():  # building from an sdist: staged/ came with it
        if not (STAGED / "clients" / "__init__.py").is_file():
            raise SystemExit(f"neither the repository's clients/ nor {STAGED} is here to build from")
        return
    shutil.rmtree(STAGED, ignore_errors=True)
    (STAGED / "clients").mkdir(parents=True)
    for source in SOURCES.iterdir():
        if source.is_file() and (source.suffix == ".py" or source.name == "py.typed"):
            shutil.copy2(source, STAGED / "clients" / source.name)
    runpy.run_path(str(generate_py))["generate"](force=True, root=STAGED)


stage()
setup()
