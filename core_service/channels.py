"""Per-channel recognition: one engine stream per audio channel, results tagged with their channel.

With `enable_separate_recognition_per_channel` (Google's meaning), each channel of
multi-channel audio is recognized on its own: a call with a different speaker on each channel
gets each speaker's words, with `channel_tag` 1, 2, ... Segment ids stay unique within the
session: each (channel, engine segment) pair gets the next session-wide id when it first appears.
"""
from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np

from .engines.base import Emit, EngineStream, Event, Result, SpeechBoundary, VadSettings


class PerChannelStream(EngineStream):
    def __init__(self, streams: list[EngineStream]):
        self.streams = streams
        self.settings = streams[0].settings

    @staticmethod
    def tagging(emit: Emit, channels: int) -> list[Emit]:
        """One emit per channel that tags its events and renumbers segments session-wide."""
        ids: dict[tuple[int, int], int] = {}

        def for_channel(channel: int) -> Emit:
            def tagged(event: Event) -> None:
                if isinstance(event, Result):
                    key = (channel, event.segment_id)
                    if key not in ids:
                        ids[key] = len(ids) + 1
                    event = replace(event, segment_id=ids[key], channel=channel)
                elif isinstance(event, SpeechBoundary):
                    event = replace(event, channel=channel)
                emit(event)
            return tagged

        return [for_channel(c) for c in range(1, channels + 1)]

    async def accept(self, audio: np.ndarray) -> None:
        for stream, samples in zip(self.streams, audio):
            await stream.accept(samples)

    async def finalize(self) -> None:
        for stream in self.streams:
            await stream.finalize()

    async def update(self, vad: VadSettings | None, partial_interval: float | None) -> None:
        for stream in self.streams:
            await stream.update(vad, partial_interval)

    async def finish(self) -> None:
        await asyncio.gather(*(stream.finish() for stream in self.streams))

    async def close(self) -> None:
        for stream in self.streams:
            await stream.close()

    def backlog_seconds(self) -> float:
        return max((s.backlog_seconds() for s in self.streams), default=0.0)

    async def wait_backlog_below(self, seconds: float) -> None:
        await asyncio.gather(*(s.wait_backlog_below(seconds) for s in self.streams))

    async def wait_backlog_below(self, seconds: float) -> None:
        await asyncio.gather(*(stream.wait_backlog_below(seconds) for stream in self.streams))

    @property
    def realtime(self) -> bool:
        return self.streams[0].realtime

    @realtime.setter
    def realtime(self, value: bool) -> None:
        for stream in self.streams:
            stream.realtime = value
