/**
 * What a client sends and sees, in plain types: times are seconds of audio from the start of the
 * stream (not google.protobuf.Duration), enums are short lower-case strings. Mirrors clients/types.py.
 */

export type Encoding = "linear16" | "float32" | "int32";
export type Segmentation = "" | "live" | "accurate";

/** The sample format of the audio bytes sent: the server resamples and downmixes. */
export interface AudioFormat {
  encoding: Encoding;
  /** 8000..48000 Hz. */
  sampleRate: number;
  /** 1..8; more than one is downmixed to mono by the server. */
  channels: number;
}

/** What to recognize and how; every field is optional (empty = the server's default). */
export interface StreamConfig {
  engine?: string;
  model?: string;
  /** BCP-47 ("en-US"); empty = detect. */
  language?: string;
  task?: "transcribe" | "translate";
  format?: AudioFormat;
  interimResults?: boolean;
  wordTimeOffsets?: boolean;
  automaticPunctuation?: boolean;
  prompt?: string;
  hotwords?: string[];
  /** "live": finals soon after each phrase; "accurate": whole passages as offline Whisper; "" = server's. */
  segmentation?: Segmentation;
  sessionId?: string;
}

export interface Word {
  word: string;
  start: number;
  end: number;
  confidence: number;
}

export interface SessionStarted {
  type: "session_started";
  sessionId: string;
  engine: string;
  model: string;
}

export interface Result {
  type: "result";
  segmentId: number;
  text: string;
  isFinal: boolean;
  stability: number;
  confidence: number;
  start: number;
  end: number;
  words: Word[];
  language: string;
  languageProbability: number;
  processingTime: number;
  channel: number;
}

export interface SpeechEvent {
  type: "speech_event";
  kind: "begin" | "end" | "unspecified";
  offset: number;
}

export interface SettingsUpdated {
  type: "settings_updated";
}

export interface Summary {
  type: "summary";
  audioProcessed: number;
  segmentCount: number;
  transcript: string;
}

/** One server message, in the order the server sends them: SessionStarted, results and events, Summary. */
export type RecognizerEvent = SessionStarted | Result | SpeechEvent | SettingsUpdated | Summary;

/** Ask the server to finalize the open utterance now, mixed into the audio stream. */
export interface Finalize {
  type: "finalize";
}

export type AudioItem = Buffer | Uint8Array | Finalize;

export interface EngineSummary {
  name: string;
  aliases: string[];
  available: boolean;
  unavailableReason: string;
  defaultModel: string;
  models: { name: string; available: boolean; unavailableReason: string; multilingual: boolean }[];
}

export interface EngineList {
  defaultEngine: string;
  engines: EngineSummary[];
}
