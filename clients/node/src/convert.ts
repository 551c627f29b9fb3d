/** The generated asr.v1 messages (src/gen, ts-proto) to and from the plain types of types.ts. */
import * as pb from "./gen/asr/v1/asr";
import { Duration } from "./gen/google/protobuf/duration";
import { EngineList, RecognizerEvent, Result, StreamConfig } from "./types";

const ENCODINGS = {
  linear16: pb.AudioEncoding.AUDIO_ENCODING_LINEAR16,
  float32: pb.AudioEncoding.AUDIO_ENCODING_FLOAT32,
  int32: pb.AudioEncoding.AUDIO_ENCODING_INT32,
} as const;

const SEGMENTATIONS = {
  "": pb.Segmentation.SEGMENTATION_UNSPECIFIED,
  live: pb.Segmentation.SEGMENTATION_LIVE,
  accurate: pb.Segmentation.SEGMENTATION_ACCURATE,
} as const;

export function seconds(d: Duration | undefined): number {
  return d ? Math.round((d.seconds + d.nanos / 1e9) * 1e9) / 1e9 : 0;
}

/** A proto float32 as the decimal it was meant to be (0.815, not 0.8149999976158142). */
function f32(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

export function configToProto(config: StreamConfig): pb.StreamingConfig {
  const format = config.format ?? { encoding: "linear16", sampleRate: 16000, channels: 1 };
  return pb.StreamingConfig.fromPartial({
    engine: config.engine ?? "",
    model: config.model ?? "",
    language: config.language ?? "",
    task: config.task === "translate" ? pb.Task.TASK_TRANSLATE : pb.Task.TASK_TRANSCRIBE,
    encoding: ENCODINGS[format.encoding],
    sampleRateHertz: format.sampleRate,
    audioChannelCount: format.channels,
    interimResults: config.interimResults ?? false,
    enableWordTimeOffsets: config.wordTimeOffsets ?? false,
    enableAutomaticPunctuation: config.automaticPunctuation ?? false,
    prompt: config.prompt ?? "",
    hotwords: config.hotwords ?? [],
    segmentation: SEGMENTATIONS[config.segmentation ?? ""],
    sessionId: config.sessionId ?? "",
  });
}

function resultFromProto(r: pb.RecognitionResult): Result {
  return {
    type: "result",
    segmentId: r.segmentId,
    text: r.text,
    isFinal: r.isFinal,
    stability: f32(r.stability),
    confidence: f32(r.confidence),
    start: seconds(r.startOffset),
    end: seconds(r.endOffset),
    words: r.words.map((w) => ({
      word: w.word,
      start: seconds(w.startOffset),
      end: seconds(w.endOffset),
      confidence: f32(w.confidence),
    })),
    language: r.language,
    languageProbability: f32(r.languageProbability),
    processingTime: seconds(r.processingTime),
    channel: r.channelTag,
  };
}

/** The event in one response; undefined for a response kind this client does not know. */
export function eventFromProto(message: pb.RecognizeResponse): RecognizerEvent | undefined {
  const response = message.response;
  switch (response?.$case) {
    case "sessionStarted":
      return {
        type: "session_started",
        sessionId: response.value.sessionId,
        engine: response.value.engine,
        model: response.value.model,
      };
    case "result":
      return resultFromProto(response.value);
    case "speechEvent": {
      const kind = response.value.type;
      return {
        type: "speech_event",
        kind:
          kind === pb.SpeechEventType.SPEECH_EVENT_TYPE_SPEECH_BEGIN
            ? "begin"
            : kind === pb.SpeechEventType.SPEECH_EVENT_TYPE_SPEECH_END
              ? "end"
              : "unspecified",
        offset: seconds(response.value.offset),
      };
    }
    case "settingsUpdated":
      return { type: "settings_updated" };
    case "summary":
      return {
        type: "summary",
        audioProcessed: seconds(response.value.audioProcessed),
        segmentCount: response.value.segmentCount,
        transcript: response.value.transcript,
      };
    default:
      return undefined;
  }
}

export function enginesFromProto(reply: pb.ListEnginesResponse): EngineList {
  return {
    defaultEngine: reply.defaultEngine,
    engines: reply.engines.map((e) => ({
      name: e.name,
      aliases: e.aliases,
      available: e.available,
      unavailableReason: e.unavailableReason,
      defaultModel: e.defaultModel,
      models: e.models.map((m) => ({
        name: m.name,
        available: m.available,
        unavailableReason: m.unavailableReason,
        multilingual: m.multilingual,
      })),
    })),
  };
}
