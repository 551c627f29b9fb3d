"""torch's thread count is process-wide: the core sets it once, from --cpu-threads, for both
torch engines, and neither engine's loading changes it."""
from __future__ import annotations

import importlib.util

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("funasr") is None or importlib.util.find_spec("speechbrain") is None,
    reason="FunASR and SpeechBrain are needed: pip install '.[funasr,speechbrain]'")


@pytest.fixture
def torch_threads_state():
    import torch

    from core_service.engines import torch_threads

    before = torch.get_num_threads()
    torch_threads.reset()
    yield torch_threads
    torch_threads.reset()
    torch.set_num_threads(before)


def test_both_torch_engines_keep_the_configured_thread_count(torch_threads_state, tmp_path):
    import torch

    from core_service.engines.funasr import FunASROptions, ParaformerModel
    from core_service.engines.speechbrain import SpeechBrainOptions, TransducerModel
    from tests.engines.tiny_funasr import build_tiny_paraformer
    from tests.engines.tiny_speechbrain import build_tiny_transducer

    paraformer = build_tiny_paraformer(tmp_path / "paraformer")
    transducer = build_tiny_transducer(tmp_path / "transducer")
    wanted = 1 if torch.get_num_threads() != 1 else 2  # differs from torch's default, so it shows
    torch_threads_state.configure(wanted)
    ParaformerModel(FunASROptions(model_dir=str(paraformer)))  # AutoModel sets its own `ncpu`
    assert torch.get_num_threads() == wanted
    TransducerModel(SpeechBrainOptions(model_dir=str(transducer), chunk_size=8))
    assert torch.get_num_threads() == wanted
    ParaformerModel(FunASROptions(model_dir=str(paraformer)))  # loading order does not matter
    assert torch.get_num_threads() == wanted


def test_without_configure_torch_keeps_its_default(torch_threads_state):
    import torch

    default = torch.get_num_threads()
    assert torch_threads_state.apply() == default == torch.get_num_threads()
