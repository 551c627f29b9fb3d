/** A whole audio source transcribed in one session: the common case of the CLI and of scripts. */
import { AudioSource } from "./audio";
import { RecognizerClient } from "./client";
import { RecognizerEvent, Result, SessionStarted, StreamConfig, Summary } from "./types";

export interface Transcript {
  /** All final texts joined with single spaces (the server's SessionSummary.transcript). */
  text: string;
  /** Final results, in order. */
  segments: Result[];
  session?: SessionStarted;
  summary?: Summary;
}

export interface TranscribeOptions {
  /** Send audio at the speed of speech, like a microphone; default: as fast as the server takes it. */
  realtime?: boolean;
  /** Audio per message; default 100 ms. */
  chunkMs?: number;
  /** Sees every event as it arrives, partials included. */
  onEvent?: (event: RecognizerEvent) => void;
}

/**
 * Stream `source` in its own format and collect the finals. Without `realtime`, a config that names
 * no segmentation gets "accurate", as the Python SDK does: a file is transcribed for the record, and
 * accurate finals are within a point of offline Whisper's WER (README: Accuracy on real speech).
 */
export async function transcribe(
  client: RecognizerClient,
  source: AudioSource,
  config: StreamConfig = {},
  options: TranscribeOptions = {},
): Promise<Transcript> {
  const realtime = options.realtime ?? false;
  const segmentation = config.segmentation || (realtime ? "" : "accurate");
  const chunks = source.chunks(options.chunkMs ?? 100, realtime);
  const transcript: Transcript = { text: "", segments: [] };
  for await (const event of client.stream(chunks, { ...config, segmentation, format: source.format })) {
    options.onEvent?.(event);
    if (event.type === "session_started") transcript.session = event;
    else if (event.type === "result" && event.isFinal) transcript.segments.push(event);
    else if (event.type === "summary") transcript.summary = event;
  }
  transcript.text =
    transcript.summary?.transcript ??
    transcript.segments
      .map((s) => s.text.trim())
      .filter((t) => t)
      .join(" ");
  return transcript;
}
