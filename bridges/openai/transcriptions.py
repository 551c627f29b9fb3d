"""POST /v1/audio/transcriptions and /v1/audio/translations: a multipart upload, one answer.

The form's fields come first (the SDKs send them before the file); when the file part begins
they are checked (bridges/openai/request.py) and the core stream opens with
`AUDIO_ENCODING_AUTO`: the file's bytes go to the core as they arrive, in whatever format they
are (the core detects and decodes it), as fast as the core's flow control allows, so the core
serves the upload as one (faster than real time). Fields after the file are too late to matter
and are refused. The end of the body ends the audio; the finals make the answer
(bridges/openai/formats.py). With `stream=true` each final is a `transcript.text.delta` event
as the core produces it, then `transcript.text.done` with the whole text and `usage`.
"""
from __future__ import annotations

import json
from typing import Mapping

from asr.v1 import asr_pb2
from bridges.codec import Action, Codec, EndAudio, StartStream, send_audio
from bridges.endings import normal
from bridges.faults import CoreError
from bridges.openai.errors import core_error_body, core_failure, refuse
from bridges.openai.form import FormError, FormReader, boundary_of
from bridges.openai.formats import Final, Transcript, diarized, segment_events, srt, verbose, vtt
from bridges.openai.request import AudioRequest, RequestError, parse_request
from bridges.transport import SendEvent, SendJson, SendText


class TranscriptionCodec(Codec):
    def __init__(self, headers: Mapping[str, str], translate: bool, engine: str) -> None:
        self.translate = translate
        self.engine = engine
        self.transcript = Transcript("translate" if translate else "transcribe")
        self.request: AudioRequest | None = None
        self.failed = False  # an answer (an error) is on its way: ignore the rest of the body
        self.streamed = False
        self.segments_sent = 0  # stream=true with diarized_json: transcript.text.segment events so far
        try:
            self.form: FormReader | None = FormReader(boundary_of(headers.get("content-type")))
        except FormError as error:
            self.form = None
            self.bad_type = str(error)

    def connected(self) -> list[Action]:
        return self._fail(self.bad_type, None) if self.form is None else []

    def received_text(self, text: str) -> list[Action]:
        return self.received_bytes(text.encode())

    def received_bytes(self, data: bytes) -> list[Action]:
        if self.failed or self.form is None:
            return []
        started = self.form.file_started
        try:
            audio = b"".join(self.form.feed(data))
        except FormError as error:
            return self._fail(str(error), None)
        actions: list[Action] = []
        if self.form.file_started and not started:
            actions = self._start()
            if self.failed:
                return actions
        if self.form.file_ended and set(self.form.fields) - self.seen:
            return self._fail("send the form fields before the file: fields after it are not read",
                              sorted(set(self.form.fields) - self.seen)[0])
        return actions + (send_audio(audio) if audio else [])

    def _start(self) -> list[Action]:
        assert self.form is not None
        self.seen = set(self.form.fields)
        try:
            self.request = parse_request(self.form, self.translate)
        except RequestError as error:
            return self._fail(str(error), error.param)
        request = self.request
        config = asr_pb2.StreamingConfig(
            engine=request.model.engine or self.engine, model=request.model.model, language=request.language,
            task=asr_pb2.TASK_TRANSLATE if self.translate else asr_pb2.TASK_TRANSCRIBE,
            encoding=asr_pb2.AUDIO_ENCODING_AUTO, prompt=request.prompt,
            enable_word_time_offsets=request.words or request.diarize, enable_automatic_punctuation=True,
            diarization=asr_pb2.DiarizationConfig(enable=True) if request.diarize else None)
        return [StartStream(config)]

    def input_ended(self) -> list[Action]:
        if self.failed:
            return []
        if self.request is None:
            return self._fail("you must provide a 'file' (the audio) in the multipart form", "file")
        return [EndAudio()]

    def idle_timeout(self, default: float | None) -> float | None:
        return default if self.request is None else None  # the body is in: the core's time is its own

    def core_response(self, response: asr_pb2.RecognizeResponse) -> list[Action]:
        kind = response.WhichOneof("response")
        if kind == "session_started":
            self.transcript.language = response.session_started.resolved_config.language
        elif kind == "summary":
            self.transcript.duration = response.summary.audio_processed.ToTimedelta().total_seconds()
        elif kind == "result" and response.result.is_final:
            final = Final.of(response.result)
            if not final.text:
                return []
            self.transcript.language = response.result.language or self.transcript.language
            delta = (" " if self.transcript.finals else "") + final.text
            self.transcript.finals.append(final)
            if self.request is not None and self.request.stream:
                self.streamed = True
                events = [{"type": "transcript.text.delta", "delta": delta}]
                if self.request.diarize:  # as gpt-4o-transcribe-diarize streams: each speaker's segment
                    segments = segment_events(final, self.segments_sent)
                    self.segments_sent += len(segments)
                    events += segments
                return [SendEvent(json.dumps(event)) for event in events]
        return []

    def core_finished(self) -> list[Action]:
        request, transcript = self.request, self.transcript
        assert request is not None
        if request.stream:
            done = {"type": "transcript.text.done", "text": transcript.text, "usage": transcript.usage()}
            return [SendEvent(json.dumps(done)), normal()]
        if request.response_format == "verbose_json":
            return [SendJson(verbose(transcript, request.segments, request.words)), normal()]
        if request.diarize:
            return [SendJson(diarized(transcript)), normal()]
        if request.response_format in ("text", "srt", "vtt"):
            render = {"text": lambda t: t.text + "\n", "srt": srt, "vtt": vtt}[request.response_format]
            return [SendText(render(transcript)), normal()]
        return [SendJson({"text": transcript.text, "usage": transcript.usage()}), normal()]

    def core_error(self, error: CoreError) -> list[Action]:
        self.failed = True
        if self.streamed:  # the event stream began (200): the error is its last event
            return [SendEvent(json.dumps({"type": "error", **core_error_body(error)})), *core_failure(error)[1:]]
        return core_failure(error)

    def _fail(self, message: str, param: str | None) -> list[Action]:
        self.failed = True
        return refuse(message, param)
