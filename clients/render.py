"""Terminal output for the CLI: a live status line, transcript lines, JSON lines, engine table."""
from __future__ import annotations

import json
import shutil
from typing import Any, TextIO

from .types import EngineInfo, EngineList, Result, Summary


class StatusLine:
    """One overwritten line (for partial results) on a terminal; silent when not a TTY."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = _isatty(stream)
        self._shown = False

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
        text = " ".join(text.split())
        if len(text) > width:  # keep the newest words in view
            text = "…" + text[-(width - 1):]
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def partial_status(result: Result) -> str:
    return f"[{result.segment_id}] {result.text.strip()}"


def speaker_lines(result: Result) -> str:
    """A diarized final as `[S1] …` lines: one per run of words of one speaker (a turn can change
    inside a result), or one line with the result's speaker when it has no words; `[S?]` = unknown."""
    def tag(speaker: int) -> str:
        return f"[S{speaker or '?'}]"

    runs: list[tuple[int, list[str]]] = []
    for w in result.words:
        if runs and runs[-1][0] == w.speaker:
            runs[-1][1].append(w.word)
        else:
            runs.append((w.speaker, [w.word]))
    if len(runs) < 2:
        return f"{tag(result.speaker)} {result.text.strip()}"
    return "\n".join(f"{tag(speaker)} {' '.join(w.strip() for w in words)}" for speaker, words in runs)


def final_line(result: Result, word_times: bool = False, speakers: bool = False) -> str:
    """A final result as transcript text (`[S1] …` lines with `speakers`); with `word_times`, its
    span and each word's times."""
    text = speaker_lines(result) if speakers else result.text.strip()
    if result.channel:
        text = f"[ch{result.channel}] {text}"
    if not word_times:
        return text
    head = f"[{result.start:7.2f} → {result.end:7.2f}] {text}"
    if not result.words:
        return head
    words = " ".join(f"{w.word.strip()}@{w.start:.2f}-{w.end:.2f}" for w in result.words)
    return f"{head}\n    {words}"


def result_json(result: Result) -> str:
    return json.dumps({"type": "result", **result.to_dict()}, ensure_ascii=False)


def summary_json(summary: Summary, extra: dict[str, Any] | None = None) -> str:
    return json.dumps({"type": "summary", **vars(summary), **(extra or {})}, ensure_ascii=False)


def engines_table(engines: EngineList) -> str:
    """A fixed-width table, one row per engine, with models and reasons on indented lines."""
    header = ("ENGINE", "ALIASES", "AVAILABLE", "CAPABILITIES", "DEFAULT MODEL", "DEVICE")
    rows = [header]
    for e in engines.engines:
        name = e.name + (" (default)" if e.name == engines.default_engine else "")
        rows.append((name, ", ".join(e.aliases) or "-", "yes" if e.available else "NO", _capabilities(e),
                     e.default_model or "-", e.device or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(rows[0], widths)).rstrip()]
    for e, row in zip(engines.engines, rows[1:]):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if not e.available and e.unavailable_reason:
            lines.append(f"    reason: {e.unavailable_reason}")
        if e.capabilities.languages:
            langs = e.capabilities.languages
            shown = ", ".join(langs[:12]) + (f", … ({len(langs)} total)" if len(langs) > 12 else "")
            lines.append(f"    languages: {shown}")
        for m in e.models:
            flags = [f"aliases: {', '.join(m.aliases)}"] if m.aliases else []
            flags += ["multilingual"] if m.multilingual else []
            state = "available" if m.available else f"UNAVAILABLE: {m.unavailable_reason or 'no reason given'}"
            mark = "*" if m.name == e.default_model else "-"
            lines.append(f"    {mark} model {m.name} [{state}]" + (f" ({'; '.join(flags)})" if flags else ""))
            if m.source:
                lines.append(f"        source: {m.source}")
    if engines.audio_encodings:
        lines.append(f"audio encodings (all engines): {', '.join(engines.audio_encodings)}")
    return "\n".join(lines)


def _capabilities(e: EngineInfo) -> str:
    c = e.capabilities
    names = [
        ("native-streaming", c.native_streaming),
        ("interim", c.interim_results),
        ("word-times", c.word_time_offsets),
        ("translate", c.translate),
        ("language-id", c.language_detection),
        ("prompt", c.prompt),
        ("hotwords", c.hotwords),
        ("diarization", c.diarization),
    ]
    return ",".join(n for n, on in names if on) or "-"
