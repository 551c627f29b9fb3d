"""The WhisperLive segment list: completed segments with frozen times plus the open partial.

The client keeps a completed segment only if its start >= the end of the last one it kept, and
matches re-sent segments by their exact strings, so a completed segment's times are formatted
once, never move, and never overlap the previous one.

Two more facts of the 0.10.0 client shape the list:
- it remembers the last *incomplete* segment it saw and appends it to its transcript at the
  end when its text differs from the last completed one. When no utterance is open, the list
  therefore ends with the last completed segment repeated as `completed: false`, so the
  remembered partial is the finished text, not a stale earlier hypothesis of it;
- it skips a segment whose text equals the previous entry's stripped text, so texts carry
  Whisper's leading space (" Hello"), which also makes that repeat reach the client.

The core's results carry a segment id: a final ends only its own utterance, so a final that
arrives after the next utterance's first partial leaves that partial open (and listed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from asr.v1 import asr_pb2
from asr_common.durations import seconds


def fmt(value: float) -> str:
    return f"{value:.3f}"


def speaker_name(label: int) -> str:
    """The core's speaker label as WhisperX names speakers: 1 -> SPEAKER_00; 0 (unknown) -> UNKNOWN."""
    return f"SPEAKER_{label - 1:02d}" if label else "UNKNOWN"


@dataclass
class SegmentList:
    last_n: int = 10
    word_timestamps: bool = False
    speakers: bool = False  # diarization: segments (and words) carry `speaker`
    completed: list[dict[str, Any]] = field(default_factory=list)
    partial: dict[str, Any] | None = None
    partial_id: int | None = None  # the core's segment id of the open partial
    _last_end: float = 0.0
    _last_sent: list[dict[str, Any]] | None = None

    def _segment(self, result: asr_pb2.RecognitionResult, completed: bool) -> dict[str, Any]:
        start = max(seconds(result.start_offset), self._last_end)
        end = max(seconds(result.end_offset), start)
        text = " " + result.text.strip()
        segment: dict[str, Any] = {"start": fmt(start), "end": fmt(end), "text": text, "completed": completed}
        if self.speakers:
            segment["speaker"] = speaker_name(result.speaker)
        if self.word_timestamps and result.words:
            segment["words"] = [
                {"word": w.word, "start": round(seconds(w.start_offset), 3),
                 "end": round(seconds(w.end_offset), 3), "probability": round(w.confidence, 3),
                 **({"speaker": speaker_name(w.speaker)} if self.speakers else {})}
                for w in result.words
            ]
        return segment

    def apply(self, result: asr_pb2.RecognitionResult) -> list[dict[str, Any]] | None:
        """Take one core result; return the segments to send, or None when nothing changed."""
        has_text = bool(result.text.strip())
        if result.is_final:
            if self.partial_id is None or self.partial_id <= result.segment_id:
                self.partial, self.partial_id = None, None  # else: the next utterance's partial stays
            if has_text:
                segment = self._segment(result, completed=True)
                self.completed.append(segment)
                # Only the last `last_n` are ever sent again: keep no more (docs/limits.md).
                del self.completed[:-self.last_n]
                self._last_end = float(segment["end"])
                if self.partial is not None:  # re-frozen after this final
                    self.partial["start"] = fmt(max(float(self.partial["start"]), self._last_end))
                    self.partial["end"] = fmt(max(float(self.partial["end"]), float(self.partial["start"])))
        elif has_text:
            self.partial, self.partial_id = self._segment(result, completed=False), result.segment_id
        else:
            return None  # an empty partial changes nothing worth saying
        return self._message()

    def _message(self) -> list[dict[str, Any]] | None:
        segments = self.completed[-self.last_n:]
        if self.partial is not None:
            segments.append(self.partial)
        elif segments:
            last = segments[-1]
            segments.append({**{k: v for k, v in last.items() if k != "words"}, "completed": False})
        if not segments or segments == self._last_sent:
            return None
        self._last_sent = segments
        return segments

    @property
    def has_open_partial(self) -> bool:
        return self.partial is not None
