"""Import torchaudio on a CPU-only torch.

PyPI's Linux torchaudio wheels are CUDA builds: their C extension links libc10_cuda.so, which the
CPU torch wheel (`torch==2.13.0+cpu`, what `make install` uses) does not have, so a plain
`import torchaudio` raises OSError. SpeechBrain and FunASR only need torchaudio's pure-Python
parts (feature helpers, resampling), so when the extension cannot load we import torchaudio with
its extension marked unavailable, exactly as torchaudio does when the library file is absent.
"""
from __future__ import annotations

import logging
import sys
import types

log = logging.getLogger(__name__)


def import_torchaudio():
    """Import and return torchaudio, falling back to no C extension on CPU-only torch."""
    try:
        import torchaudio

        return torchaudio
    except OSError as exc:
        log.info("torchaudio C extension unavailable (%s); using its pure-Python parts", exc)
    for name in [n for n in sys.modules if n == "torchaudio" or n.startswith("torchaudio.")]:
        del sys.modules[name]
    stub = types.ModuleType("torchaudio._extension")
    stub._IS_TORCHAUDIO_EXT_AVAILABLE = False
    stub._IS_ALIGN_AVAILABLE = False

    def fail_if_no_align(func):
        def unavailable(*args, **kwargs):
            raise RuntimeError("torchaudio forced alignment needs torchaudio's C extension")

        return unavailable

    stub.fail_if_no_align = fail_if_no_align
    stub._check_cuda_version = lambda: None
    sys.modules["torchaudio._extension"] = stub
    import torchaudio

    return torchaudio
