/** asr-gateway-client: a typed Node client for the asr.v1 streaming speech-recognition API. */
export { AudioFormatError, AudioSource, frameBytes, openAudio } from "./audio";
export { ClientOptions, DEFAULT_SERVER, defaultServer, RecognizerClient } from "./client";
export { FieldViolation, RecognizerError, ServerUnreachable } from "./errors";
export { transcribe, TranscribeOptions, Transcript } from "./transcribe";
export * from "./types";
