"""Which encoder window a final gets (`--final-window`, docs/performance.md): Whisper's full
30 s window, as offline Whisper, for the English-only model while real-time finals leave the
model room; the trimmed window when one is waiting or finals kept it busy; forced either way
by the flag. Sessions with accurate segmentation get the full window for any model unless a
real-time final is waiting. The scheduler here decodes plain strings: the rule reads only its queue and its
recent work."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np
import pytest

from core_service.engines.whisper import WhisperEngine, WhisperOptions, _LoadedModel
from core_service.engines.whisper_decoder import DecodeRequest, WhisperDecoder
from core_service.models import tiny_en_path
from core_service.scheduler import DecodeScheduler

from .test_scheduler import Decoder, submit, until


@dataclass
class Model:
    multilingual: bool


def loaded(multilingual: bool = False, decode=None) -> _LoadedModel:
    sched = DecodeScheduler(decode or Decoder(), name="window-test", workers=1)
    return _LoadedModel(Model(multilingual), sched)


def full_window(mode: str, model: _LoadedModel, accurate: bool = False) -> bool:
    return WhisperEngine(WhisperOptions(final_window=mode))._full_final_window(model, accurate)


async def test_an_idle_english_model_decodes_finals_in_the_full_window():
    model = loaded()
    try:
        assert full_window("auto", model)
    finally:
        model.scheduler.close()


async def test_the_multilingual_model_keeps_trimmed_windows_unless_full_is_forced():
    model = loaded(multilingual=True)
    try:
        assert not full_window("auto", model) and full_window("full", model)
    finally:
        model.scheduler.close()


async def test_a_waiting_realtime_final_makes_the_next_one_trimmed():
    dec = Decoder()
    model = loaded(decode=dec)
    sched = model.scheduler
    try:
        blocker = submit(sched, "block", owner="a")  # the only worker is busy
        await until(lambda: dec.running)
        waiting = submit(sched, "final", owner="b")
        await until(lambda: sched.finals_waiting == 1)
        assert not full_window("auto", model) and full_window("full", model)
        assert not full_window("auto", model, accurate=True)  # accurate sessions' finals too
        assert not full_window("trimmed", loaded(decode=Decoder()))
        dec.gate.set()
        await asyncio.gather(blocker, waiting)
        assert sched.finals_waiting == 0
    finally:
        dec.gate.set()
        sched.close()


async def test_uploads_waiting_do_not_count_as_realtime_finals():
    dec = Decoder()
    model = loaded(decode=dec)
    sched = model.scheduler
    try:
        blocker = submit(sched, "block", owner="a")
        await until(lambda: dec.running)
        upload = submit(sched, "upload", owner="b", realtime=False)
        await until(lambda: sched.queued == 1)
        assert sched.finals_waiting == 0 and full_window("auto", model)
        dec.gate.set()
        await asyncio.gather(blocker, upload)
    finally:
        dec.gate.set()
        sched.close()


async def test_finals_that_kept_the_model_busy_lately_make_the_next_one_trimmed(monkeypatch):
    model = loaded()
    try:
        monkeypatch.setattr(model.scheduler, "utilization", lambda seconds, priority=None: 0.3)
        assert not full_window("auto", model) and full_window("full", model)
    finally:
        model.scheduler.close()


async def test_accurate_sessions_get_the_full_window_for_any_model_even_after_busy_finals(monkeypatch):
    model = loaded(multilingual=True)
    try:
        monkeypatch.setattr(model.scheduler, "utilization", lambda seconds, priority=None: 0.3)
        assert full_window("auto", model, accurate=True) and not full_window("trimmed", model, accurate=True)
    finally:
        model.scheduler.close()



def test_a_full_window_auto_chose_counts_for_admission_at_the_trimmed_windows_cost():
    """Admission counts what a final would cost on a loaded decoder (core_service/load_meter.py):
    under load auto falls back to the trimmed window, so its full windows count as trimmed ones;
    a full window the flag forces is paid whatever the load."""
    decoder = WhisperDecoder(str(tiny_en_path()))
    two_seconds = np.zeros(2 * 16000, np.float32)

    def firm(mode: str, full: bool) -> float:
        engine = WhisperEngine(WhisperOptions(final_window=mode))
        return engine._firm_fraction(decoder, [DecodeRequest(two_seconds, full_window=full)])

    assert firm("auto", True) == pytest.approx(1000 / 3000)  # a trimmed window is 10 s at least
    assert firm("auto", False) == 1.0 and firm("full", True) == 1.0
