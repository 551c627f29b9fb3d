"""Deepgram's prerecorded API (`POST /v1/listen`, the audio as the body) as a sans-I/O codec.

The body goes to the core as it arrives (a container is detected unless `encoding` names raw
audio); the answer is one JSON body, Deepgram's `{metadata, results: {channels[].alternatives[],
utterances}}`. Errors are Deepgram's `{err_code, err_msg, request_id}` with 400 (the client's),
503 + Retry-After (busy, unavailable) or 500.
"""
from __future__ import annotations

import uuid
from typing import Any, Mapping

from asr.v1 import asr_pb2
from asr_common.durations import seconds
from bridges.codec import Action, Codec, StartStream, send_audio
from bridges.deepgram import messages
from bridges.deepgram.options import ListenOptions
from bridges.endings import EndKind, client_fault, normal
from bridges.faults import CoreError, classify, describe, error_ending
from bridges.fields import FieldError
from bridges.transport import SendJson

ERR_CODES = {EndKind.CLIENT_FAULT: "Bad Request", EndKind.BUSY: "TOO_MANY_REQUESTS",
             EndKind.UNAVAILABLE: "SERVICE_UNAVAILABLE", EndKind.SHUTTING_DOWN: "SERVICE_UNAVAILABLE",
             EndKind.INTERNAL: "INTERNAL_SERVER_ERROR"}


class PrerecordedCodec(Codec):
    def __init__(self, query: dict[str, str], headers: Mapping[str, str], engine: str = "") -> None:
        self.query = query
        self.content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
        self.engine = engine
        self.options = ListenOptions()
        self.request = messages.Request(str(uuid.uuid4()), query.get("model") or "general")
        self.finals: list[asr_pb2.RecognitionResult] = []
        self.audio_seconds = 0.0
        self.refused_body = False

    def connected(self) -> list[Action]:
        if self.content_type == "application/json":
            self.refused_body = True
            return self._bad("fetching audio from a URL is not supported by this server (it fetches nothing); "
                             "send the audio itself as the request body")
        try:
            self.options = ListenOptions.parse(self.query, live=False)
        except FieldError as exc:
            self.refused_body = True
            return self._bad(str(exc))
        config = self.options.to_proto(self.engine)
        config.segmentation = asr_pb2.SEGMENTATION_ACCURATE  # a whole file: accuracy over latency
        return [StartStream(config)]

    def _bad(self, message: str) -> list[Action]:
        return [SendJson(messages.http_error("Bad Request", message, self.request.request_id)),
                client_fault(message)]

    def received_text(self, text: str) -> list[Action]:
        return []  # a request body arrives as bytes

    def received_bytes(self, data: bytes) -> list[Action]:
        return [] if self.refused_body else send_audio(data)

    def input_ended(self) -> list[Action]:
        return [] if self.refused_body else super().input_ended()

    def core_response(self, response: asr_pb2.RecognizeResponse) -> list[Action]:
        kind = response.WhichOneof("response")
        if kind == "session_started":
            started = response.session_started
            self.request.model_version = "/".join(p for p in (started.engine, started.model) if p)
        elif kind == "summary":
            self.audio_seconds = seconds(response.summary.audio_processed)
        elif kind == "result" and response.result.is_final and response.result.text.strip():
            self.finals.append(response.result)
        return []

    def core_finished(self) -> list[Action]:
        return [SendJson(self.body()), normal()]

    def body(self) -> dict[str, Any]:
        options = self.options
        channel_count = options.channels if options.multichannel else 1
        every = [messages.alternative(r, options.punctuate) for r in self.finals]
        channels = []
        for channel in range(channel_count):
            mine = [i for i, r in enumerate(self.finals) if not options.multichannel or r.channel_tag == channel]
            finals, alts = [self.finals[i] for i in mine], [every[i] for i in mine]
            alternative: dict[str, Any] = {
                "transcript": " ".join(a["transcript"] for a in alts if a["transcript"]),
                "confidence": messages.rounded(sum(a["confidence"] for a in alts) / len(alts)) if alts else 0.0,
                "words": [w for a in alts for w in a["words"]]}
            if options.smart_format:
                alternative["paragraphs"] = paragraphs(finals, alts)
            channels.append({"alternatives": [alternative]})
        results: dict[str, Any] = {"channels": channels}
        if options.utterances:
            results["utterances"] = [u for r, a in zip(self.finals, every) for u in utterances(r, a, options.diarize)]
        duration = self.audio_seconds or (seconds(self.finals[-1].end_offset) if self.finals else 0.0)
        return {"metadata": self.request.metadata(duration, options.channels, options.warnings), "results": results}

    def core_error(self, error: CoreError) -> list[Action]:
        return [SendJson(messages.http_error(ERR_CODES[classify(error)], describe(error), self.request.request_id)),
                error_ending(error, describe(error))]

    def idle(self) -> list[Action]:
        return []


def utterances(result: asr_pb2.RecognitionResult, alt: dict[str, Any], diarize: bool) -> list[dict[str, Any]]:
    """A final as Deepgram's utterances: one, or with diarize one per run of words of one speaker
    (a turn can change inside a final, and Deepgram's utterances never span two speakers)."""
    base = {"confidence": alt["confidence"], "channel": result.channel_tag}
    runs: list[list[dict[str, Any]]] = []
    for w in alt["words"] if diarize else []:
        if runs and runs[-1][0].get("speaker") == w.get("speaker"):
            runs[-1].append(w)
        else:
            runs.append([w])
    if len(runs) < 2:
        return [{"start": messages.rounded(seconds(result.start_offset)),
                 "end": messages.rounded(seconds(result.end_offset)), **base, "transcript": alt["transcript"],
                 "words": alt["words"], **messages.speaker_of(result.speaker), "id": str(uuid.uuid4())}]
    return [{"start": run[0]["start"], "end": run[-1]["end"], **base,
             "transcript": " ".join(w["punctuated_word"] for w in run), "words": run,
             **({"speaker": run[0]["speaker"]} if "speaker" in run[0] else {}), "id": str(uuid.uuid4())}
            for run in runs]


def paragraphs(finals: list[asr_pb2.RecognitionResult], alts: list[dict[str, Any]]) -> dict[str, Any]:
    """Each final as one paragraph of one sentence (the core's finals end at pauses)."""
    items = [{"sentences": [{"text": a["transcript"], "start": messages.rounded(seconds(r.start_offset)),
                             "end": messages.rounded(seconds(r.end_offset))}],
              "start": messages.rounded(seconds(r.start_offset)), "end": messages.rounded(seconds(r.end_offset)),
              "num_words": len(a["words"]), **messages.speaker_of(r.speaker)} for r, a in zip(finals, alts)]
    return {"transcript": "".join("\n" + a["transcript"] for a in alts), "paragraphs": items}
