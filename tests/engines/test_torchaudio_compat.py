"""The torchaudio shim (core_service/engines/torchaudio_compat.py) against the pinned torchaudio.

The shim replaces `torchaudio._extension` with a module of its own when the CUDA-built extension
cannot load beside the CPU torch wheel. That only works while the stub defines every name the real
module defines that torchaudio's own modules import; these tests fail when a torchaudio upgrade
renames, adds or removes one, so the pin in pyproject.toml is never bumped blindly.
"""
from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from core_service.engines.torchaudio_compat import import_torchaudio

SPEC = importlib.util.find_spec("torchaudio")
pytestmark = pytest.mark.skipif(SPEC is None, reason="torchaudio is installed with the funasr/speechbrain extras")


def package_dir() -> Path:
    return Path(SPEC.origin).parent


def stubbed_names() -> set[str]:
    """The names the shim defines on its stand-in `torchaudio._extension`."""
    import_torchaudio()
    module = sys.modules["torchaudio._extension"]
    if module.__spec__ is not None:
        pytest.skip("torchaudio's C extension loads on this machine: the shim is not used")
    return {name for name in vars(module) if not name.startswith("__")}


def defined_names(path: Path) -> set[str]:
    """Module-level names a source file assigns, defines or imports."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def names_torchaudio_imports_from_its_extension() -> dict[str, str]:
    """name -> the torchaudio module that does `from torchaudio._extension import name`."""
    wanted: dict[str, str] = {}
    for path in package_dir().rglob("*.py"):
        if "_extension" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in ("torchaudio._extension", "_extension"):
                wanted.update({a.name: str(path.relative_to(package_dir())) for a in node.names})
    return wanted


def test_a_plain_import_fails_on_the_cpu_torch_wheel_so_the_shim_is_needed():
    # in a fresh interpreter: this one may already hold the shimmed torchaudio
    plain = subprocess.run([sys.executable, "-c", "import torchaudio"], capture_output=True, text=True, timeout=120)
    assert plain.returncode != 0 and "OSError" in plain.stderr and "_torchaudio" in plain.stderr, plain.stderr[-500:]


def test_every_name_the_shim_stubs_still_exists_in_torchaudio():
    real = defined_names(package_dir() / "_extension" / "__init__.py")
    missing = stubbed_names() - real
    assert not missing, f"torchaudio._extension no longer defines {sorted(missing)}: update the shim"


def test_the_shim_stubs_every_name_torchaudio_imports_from_its_extension():
    stubbed = stubbed_names()
    unmet = {name: where for name, where in names_torchaudio_imports_from_its_extension().items()
             if name not in stubbed}
    assert not unmet, f"torchaudio imports names the shim does not stub: {unmet}"


def test_the_shimmed_torchaudio_reports_no_extension_and_refuses_alignment():
    torchaudio = import_torchaudio()
    assert torchaudio._extension._IS_TORCHAUDIO_EXT_AVAILABLE is False
    with pytest.raises(RuntimeError, match="C extension"):
        torchaudio.functional.forced_align(None, None)
