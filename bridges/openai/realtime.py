"""GET /v1/realtime: a Realtime transcription session on a WebSocket (docs/openai.md).

The shape (GA or beta) is the client's: `OpenAI-Beta: realtime=v1` or a
`transcription_session.update` makes it beta (`transcription_session.created/updated`,
`conversation.item.created`); otherwise GA (`session.created/updated`,
`conversation.item.added`). Settings: bridges/openai/realtime_config.py.

Audio (`input_audio_buffer.append`, base64) opens the core stream with the settings in force
and goes to it as it comes. A settings change that the stream was opened with (format, model,
language, prompt) ends that stream and opens a new one once its finals are in (the audio
meanwhile is held, at most `MAX_HELD_SECONDS`); a turn-detection change is sent to the open
stream as it is.

Turns. With `turn_detection` server_vad or semantic_vad the core's VAD ends utterances: each
utterance is one item (`speech_started` when speech begins, `speech_stopped` + `committed` +
the item when it ends, its deltas, `completed` at its final). A result of a new utterance
belongs to the latest item whose speech had started by the result's start (`_claim`): on a busy
core an utterance's final may come after the next one's first partial. An item no result
claims completes empty once a later final comes. With `turn_detection: null` the
client commits: the core runs without VAD, a commit is answered at once (`committed` and the
item) and finalizes the utterance, whose final completes the item. Deltas:
bridges/openai/realtime_items.py.

Speakers. With `gpt-4o-transcribe-diarize` the core stream is opened with diarization, and each
final's deltas are followed by one `conversation.item.input_audio_transcription.segment` per run
of one speaker's words (`speaker` lettered as the REST `diarized_json` does: "A", "B", …), before
the item's `completed`.
"""
from __future__ import annotations

import base64
import binascii
import collections
import itertools
from typing import Any

from asr.v1 import asr_pb2
from bridges.codec import Action, Codec, EndAudio, SendControl, StartStream, send_audio
from bridges.faults import CoreError, classify, describe, error_ending
from bridges.fields import FieldError, parse_json_object
from bridges.openai.errors import TYPES
from bridges.openai.realtime_config import (RealtimeSettings, SettingsError, apply_beta, apply_ga, from_query)
from bridges.openai.formats import Final, speaker_letter
from bridges.openai.realtime_items import Item, speaker_segments
from bridges.runtime import ConnectionInfo
from bridges.transport import SendJson

MAX_HELD_SECONDS = 10.0  # audio held while the core stream is reopened with new settings
MIN_COMMIT_SECONDS = 0.1  # OpenAI's smallest committable buffer
CLAIM_SLACK_SECONDS = 0.5  # a result's utterance may start this much before its speech start event
FINALIZE = SendControl(asr_pb2.StreamControl(finalize=asr_pb2.FinalizeUtterance()))


def seconds(duration: Any) -> float:
    return duration.ToTimedelta().total_seconds()


class RealtimeCodec(Codec):
    def __init__(self, info: ConnectionInfo, engine: str) -> None:
        self.engine = engine
        self.beta = "realtime=v1" in (info.headers.get("openai-beta") or "")
        self.session_id = f"sess_{info.session_id}"
        self._events = itertools.count(1)
        self._items = itertools.count(1)
        self._segments = itertools.count(0)
        self.query_error: SettingsError | None = None
        try:
            self.settings = from_query(info.query)
        except SettingsError as error:
            self.settings, self.query_error = RealtimeSettings(), error
        self.stream_key: tuple | None = None  # the settings the open core stream was opened with
        self.stream_diarizes = False  # it was opened with diarization
        self.reopening = False
        self.held: list[bytes] = []
        self.odd = b""
        self.buffered = 0  # bytes appended since the last commit or clear
        self.last_item: str | None = None  # the last committed item (previous_item_id)
        self.by_segment: dict[int, Item] = {}  # server VAD: the item of each core utterance
        self.started: list[Item] = []  # server VAD: speech started, no result of its utterance yet
        self.current: Item | None = None  # client commits: the item being spoken
        self.awaiting: collections.deque[Item] = collections.deque()  # committed, waiting for their final
        self.discarded: set[str] = set()  # items cleared by the client: their results are dropped

    @property
    def manual(self) -> bool:
        return self.settings.turn_detection is None

    # ---- events to the client ----------------------------------------------------------------
    def _event(self, kind: str, **fields: Any) -> SendJson:
        return SendJson({"type": kind, "event_id": f"event_{next(self._events)}", **fields})

    def _error(self, message: str, code: str, param: str | None = None, event_id: str | None = None) -> SendJson:
        return self._event("error", error={"type": "invalid_request_error", "code": code, "message": message,
                                           "param": param, "event_id": event_id})

    def _session(self, verb: str) -> SendJson:
        if self.beta:
            return self._event(f"transcription_session.{verb}", session=self.settings.beta(self.session_id))
        return self._event(f"session.{verb}", session=self.settings.ga(self.session_id))

    def _new_item(self) -> Item:
        return Item(f"item_{self.session_id[5:]}_{next(self._items)}")

    # ---- the client's events -----------------------------------------------------------------
    def connected(self) -> list[Action]:
        actions: list[Action] = [self._session("created")]
        if self.query_error is not None:
            actions.append(self._error(str(self.query_error), "invalid_value", self.query_error.param))
        return actions

    def received_bytes(self, data: bytes) -> list[Action]:
        return [self._error("send events as JSON text frames; audio goes in input_audio_buffer.append as base64",
                            "invalid_request_error")]

    def received_text(self, text: str) -> list[Action]:
        try:
            event = parse_json_object(text, "event")
        except FieldError as error:
            return [self._error(f"{error}", "invalid_json")]
        kind, event_id = event.get("type"), event.get("event_id")
        handler = {"session.update": self._session_update, "transcription_session.update": self._session_update,
                   "input_audio_buffer.append": self._append, "input_audio_buffer.commit": self._commit,
                   "input_audio_buffer.clear": self._clear}.get(kind if isinstance(kind, str) else "")
        if handler is None:
            return [self._error(f"unknown or unsupported event type {kind!r} on a transcription session",
                                "invalid_event_type" if kind else "missing_required_parameter", "type", event_id)]
        return handler(event)

    def _session_update(self, event: dict[str, Any]) -> list[Action]:
        session = event.get("session")
        if not isinstance(session, dict):
            return [self._error("'session' must be an object", "invalid_type", "session", event.get("event_id"))]
        beta = event["type"] == "transcription_session.update"
        try:
            settings = apply_beta(self.settings, session) if beta else apply_ga(self.settings, session)
        except SettingsError as error:
            return [self._error(str(error), "invalid_value", error.param, event.get("event_id"))]
        self.beta = beta or self.beta
        vad_changed = settings.turn_detection != self.settings.turn_detection
        self.settings = settings
        actions: list[Action] = [self._session("updated")]
        if self.stream_key is not None and not self.reopening:
            if settings.core_key() != self.stream_key:
                self.reopening = True
                actions.append(EndAudio())
            elif vad_changed:
                actions.append(SendControl(asr_pb2.StreamControl(
                    update_settings=asr_pb2.UpdateSettings(vad=settings.vad()))))
        return actions

    def _append(self, event: dict[str, Any]) -> list[Action]:
        audio = event.get("audio")
        try:
            data = base64.b64decode(audio, validate=True) if isinstance(audio, str) else None
        except (binascii.Error, ValueError):
            data = None
        if data is None:
            return [self._error("'audio' must be base64-encoded audio in the session's format", "invalid_value",
                                "audio", event.get("event_id"))]
        self.buffered += len(data)
        if self.settings.audio_format == "pcm16":
            data, self.odd = self.odd + data, b""
            if len(data) % 2:
                data, self.odd = data[:-1], data[-1:]
        if self.reopening:
            return self._hold(data)
        actions: list[Action] = [self._open_stream()] if self.stream_key is None else []
        return actions + send_audio(data)

    def _open_stream(self) -> StartStream:
        self.stream_key, self.stream_diarizes = self.settings.core_key(), self.settings.diarize
        return StartStream(self.settings.core_config(self.engine))

    def _hold(self, data: bytes) -> list[Action]:
        if sum(map(len, self.held)) + len(data) > MAX_HELD_SECONDS * self.settings.bytes_per_second:
            return [self._error("audio arrives faster than the session can take it while its settings change; "
                                "wait for session.updated", "buffer_full")]
        self.held.append(data)
        return []

    def _commit(self, event: dict[str, Any]) -> list[Action]:
        if self.buffered < MIN_COMMIT_SECONDS * self.settings.bytes_per_second:
            return [self._error(f"buffer too small: expected at least {MIN_COMMIT_SECONDS * 1000:.0f}ms of audio, "
                                f"but buffer only has {self.buffered * 1000 / self.settings.bytes_per_second:.2f}ms "
                                "of audio", "input_audio_buffer_commit_empty", None, event.get("event_id"))]
        self.buffered = 0
        if self.manual:
            item, self.current = self.current or self._new_item(), None
            self.awaiting.append(item)
        else:
            item = next((i for i in self.by_segment.values() if not i.committed), None) or (
                self.started[-1] if self.started else None)
            if item is None:
                item = self._new_item()
                self.started.append(item)
        return [*self._committed(item), FINALIZE]

    def _clear(self, event: dict[str, Any]) -> list[Action]:
        """The audio not yet committed is dropped: its item's results will not be sent."""
        self.buffered = 0
        dropped = [self.current] if self.manual else [i for i in (*self.by_segment.values(), *self.started)
                                                      if not i.committed]
        for item in dropped:
            if item is not None:
                self.discarded.add(item.id)
                if self.manual:
                    self.awaiting.append(item)  # its final is the finalize's, and is dropped
        self.current = None
        return [self._event("input_audio_buffer.cleared"), FINALIZE]

    # ---- items -----------------------------------------------------------------------------------
    def _committed(self, item: Item, end: float | None = None) -> list[Action]:
        """`speech_stopped` (server VAD), `committed` and the item, once per item."""
        if item.committed:
            return []
        item.committed = True
        actions: list[Action] = []
        if end is not None:
            item.end = max(item.end, end)
            actions.append(self._event("input_audio_buffer.speech_stopped", audio_end_ms=round(item.end * 1000),
                                       item_id=item.id))
        previous, self.last_item = self.last_item, item.id
        message = {"id": item.id, "object": "realtime.item", "type": "message", "status": "completed",
                   "role": "user", "content": [{"type": "input_audio", "transcript": None}]}
        added = "conversation.item.created" if self.beta else "conversation.item.added"
        return actions + [self._event("input_audio_buffer.committed", previous_item_id=previous, item_id=item.id),
                          self._event(added, previous_item_id=previous, item=message)]

    def _delta(self, item: Item, delta: str) -> list[Action]:
        if not delta or item.id in self.discarded:
            return []
        return [self._event("conversation.item.input_audio_transcription.delta", item_id=item.id, content_index=0,
                            delta=delta)]

    def _final(self, item: Item, result: asr_pb2.RecognitionResult) -> list[Action]:
        """A final's delta, then (diarizing) its speaker segments."""
        actions = self._delta(item, item.final(result.text))
        if not self.stream_diarizes or item.id in self.discarded:
            return actions
        return actions + [self._event("conversation.item.input_audio_transcription.segment", item_id=item.id,
                                      content_index=0, id=f"seg_{next(self._segments)}", text=text,
                                      speaker=speaker_letter(speaker), start=start, end=end)
                          for speaker, start, end, text in speaker_segments(item.added, Final.of(result))]

    def _completed(self, item: Item) -> list[Action]:
        item.completed = True
        if item.id in self.discarded:
            self.discarded.discard(item.id)
            return []
        usage = {"type": "duration", "seconds": round(max(item.end - item.start, 0.0), 3)}
        return [self._event("conversation.item.input_audio_transcription.completed", item_id=item.id,
                            content_index=0, transcript=item.transcript, usage=usage)]

    def _item_of(self, result: asr_pb2.RecognitionResult) -> tuple[Item, list[Action]]:
        """The item a result belongs to (a new one announced with speech_started under server VAD)."""
        start, end = seconds(result.start_offset), seconds(result.end_offset)
        if self.manual:
            if self.awaiting:
                item = self.awaiting[0]
            else:
                item = self.current = self.current or self._new_item()
                item.start = start if not item.sent and not item.done else item.start
            item.end = max(item.end, end)
            return item, []
        item = self.by_segment.get(result.segment_id)
        actions: list[Action] = []
        if item is None:
            item = self._claim(start)
            if item is None:
                item = self._new_item()
                item.start = start
                actions.append(self._speech_started(item))
            else:
                item.start = min(item.start, start)  # the utterance may begin before the VAD said so
            self.by_segment[result.segment_id] = item
        item.end = max(item.end, end)
        return item, actions

    def _claim(self, start: float) -> Item | None:
        """The item whose speech start announced the utterance of a result starting at `start`:
        the latest one started by then. An utterance's final may come after the next one's first
        partial, so the items started and not yet claimed are kept in order, not just the last."""
        claimed = next((i for i in reversed(self.started) if i.start <= start + CLAIM_SLACK_SECONDS), None)
        if claimed is not None:
            self.started.remove(claimed)
        return claimed

    def _unheard_before(self, item: Item) -> list[Action]:
        """Items whose speech ended before `item`'s and that no result claimed: the core's finals
        come in order, so none will; they complete empty, as every committed item completes."""
        unheard = [i for i in self.started if i.committed and i.start < item.start]
        self.started = [i for i in self.started if i not in unheard]
        return [a for i in unheard for a in self._completed(i)]

    def _speech_started(self, item: Item) -> SendJson:
        return self._event("input_audio_buffer.speech_started", audio_start_ms=round(item.start * 1000),
                           item_id=item.id)

    # ---- the core's responses -----------------------------------------------------------------
    def core_response(self, response: asr_pb2.RecognizeResponse) -> list[Action]:
        kind = response.WhichOneof("response")
        if kind == "speech_event" and not self.manual:
            return self._speech(response.speech_event)
        if kind != "result":
            return []
        result = response.result
        item, actions = self._item_of(result)
        if not result.is_final:
            return actions + self._delta(item, item.partial(result.text))
        if self.manual:
            if not self.awaiting:  # the core cut a long turn: the item goes on until the commit
                return actions + self._final(item, result)
            self.awaiting.popleft()
        else:
            self.by_segment.pop(result.segment_id, None)
            actions += self._unheard_before(item) + self._committed(item, seconds(result.end_offset))
        return actions + self._final(item, result) + self._completed(item)

    def _speech(self, event: asr_pb2.SpeechEvent) -> list[Action]:
        if event.type == asr_pb2.SPEECH_EVENT_TYPE_SPEECH_BEGIN:
            if any(not i.committed for i in (*self.by_segment.values(), *self.started)):
                return []
            item = self._new_item()
            item.start = seconds(event.offset)
            self.started.append(item)
            return [self._speech_started(item)]
        if event.type == asr_pb2.SPEECH_EVENT_TYPE_SPEECH_END:
            self.buffered = 0
            open_items = [i for i in (*self.by_segment.values(), *self.started) if not i.committed]
            return [a for item in open_items for a in self._committed(item, seconds(event.offset))]
        return []

    def core_finished(self) -> list[Action]:
        """The stream ended because the settings changed: open the next one with the held audio."""
        self.stream_key = None
        if not self.reopening:
            return []
        self.reopening = False
        held, self.held = b"".join(self.held), []
        return [self._open_stream(), *send_audio(held)]

    def core_error(self, error: CoreError) -> list[Action]:
        """Open items fail with the core's words; a refused config or an unavailable core is an
        `error` (OpenAI's own for a session it cannot serve), then the session ends."""
        self.stream_key = None
        body = {"type": TYPES[classify(error)], "code": error.code.name.lower(), "message": describe(error),
                "param": None}
        items = [*self.awaiting, *([self.current] if self.current else []), *self.by_segment.values(),
                 *self.started]
        failed = [self._event("conversation.item.input_audio_transcription.failed", item_id=i.id, content_index=0,
                              error=body) for i in items if i.committed and not i.completed]
        return [*failed, self._event("error", error={**body, "event_id": None}), error_ending(error, error.message)]

    def rejection(self, payload: dict[str, Any]) -> str | None:
        if payload.get("type") != "error":
            return None
        return str(payload.get("error", {}).get("message"))
