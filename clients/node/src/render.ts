/**
 * Output of the CLI: finals (text or JSON lines) on stdout; partials on a status line overwritten on
 * stderr when it is a terminal. The JSON lines have the Python CLI's field names (docs/clients.md).
 */
import { Result, Summary } from "./types";

export function resultJson(r: Result): string {
  return JSON.stringify({
    type: "result",
    segment_id: r.segmentId,
    text: r.text,
    is_final: r.isFinal,
    start: r.start,
    end: r.end,
    stability: r.stability,
    confidence: r.confidence,
    words: r.words,
    language: r.language,
    language_probability: r.languageProbability,
    processing_time: r.processingTime,
    channel: r.channel,
  });
}

export function summaryJson(s: Summary): string {
  return JSON.stringify({
    type: "summary",
    audio_processed: s.audioProcessed,
    segment_count: s.segmentCount,
    transcript: s.transcript,
  });
}

/** One line for partial results, overwritten in place; silent unless the stream is a terminal. */
export class StatusLine {
  private shown = false;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  show(text: string): void {
    if (!this.stream.isTTY) return;
    const width = Math.max(20, (this.stream.columns || 80) - 1);
    let line = text.split(/\s+/).join(" ");
    if (line.length > width) line = "…" + line.slice(line.length - (width - 1)); // the newest words stay in view
    this.stream.write("\r\x1b[K" + line);
    this.shown = true;
  }

  clear(): void {
    if (!this.shown) return;
    this.stream.write("\r\x1b[K");
    this.shown = false;
  }
}
