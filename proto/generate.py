"""Generate the asr.v1 Python stubs from proto/asr/v1/*.proto into the `asr` package at the root.

The stubs are never committed (.gitignore) and never edited by hand. setup.py runs this before
setuptools looks for packages, so `pip install .` (editable or not) always ships them;
`make stubs` runs it too. It needs grpcio-tools (the `dev` extra and the build requirements).

    python proto/generate.py           # regenerate when a .proto is newer than the stubs
    python proto/generate.py --force   # regenerate anyway
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("generate_stubs")

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE = ROOT / "asr"  # the proto package asr.v1 is imported as `from asr.v1 import asr_pb2`


def sources() -> list[Path]:
    return sorted((PROTO_ROOT / "asr").rglob("*.proto"))


def outputs(proto: Path, root: Path = ROOT) -> list[Path]:
    stem = root / proto.relative_to(PROTO_ROOT).with_suffix("")
    return [stem.with_name(stem.name + suffix) for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")]


def stale(root: Path = ROOT) -> bool:
    for proto in sources():
        made = outputs(proto, root)
        if not all(p.exists() for p in made) or min(p.stat().st_mtime for p in made) < proto.stat().st_mtime:
            return True
    return False


def generate(force: bool = False, root: Path = ROOT) -> bool:
    """Write the stubs (the `asr` package under `root`, by default the project root) when missing
    or older than a .proto; True if they were written. clients/python/setup.py passes its own
    staging directory as `root`."""
    if not force and not stale(root):
        return False
    try:
        from grpc_tools import protoc
    except ImportError:
        raise SystemExit("generating the asr.v1 stubs needs grpcio-tools: pip install 'grpcio-tools==1.85.1'") from None
    import grpc_tools

    include = Path(grpc_tools.__file__).parent / "_proto"  # google/protobuf/*.proto
    args = ["grpc_tools.protoc", f"-I{PROTO_ROOT}", f"-I{include}", f"--python_out={root}", f"--pyi_out={root}",
            f"--grpc_python_out={root}", *map(str, sources())]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed on {[str(p) for p in sources()]}")
    package_dir = root / PACKAGE.name
    for package in {package_dir, *(p.parent for p in package_dir.rglob("*_pb2.py"))}:
        (package / "__init__.py").touch()
    log.info("generated the asr.v1 stubs in %s", package_dir)
    return True


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="regenerate even when the stubs are up to date")
    if not generate(parser.parse_args().force):
        log.info("the asr.v1 stubs in %s are up to date", PACKAGE)


if __name__ == "__main__":
    sys.exit(main())
