/**
 * The RIFF/WAVE header: where the samples start and what they are. No I/O: `parseWavHeader` is
 * given the first bytes of a file or stream and says whether it needs more.
 */
import { AudioFormat, Encoding } from "./types";

export class AudioFormatError extends Error {
  override name = "AudioFormatError";
}

export interface WavHeader {
  format: AudioFormat;
  /** Offset of the first sample byte. */
  dataOffset: number;
  /** Bytes of samples the header announces; undefined when unknown (a stream written as it is recorded). */
  dataBytes: number | undefined;
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_IEEE_FLOAT = 3;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** The largest header we look through before giving up (a WAV's chunks before `data` are small). */
export const MAX_HEADER_BYTES = 1 << 20;

/** The header of `head` (the first bytes), or "more" when `head` ends before the `data` chunk. */
export function parseWavHeader(head: Buffer): WavHeader | "more" {
  const riff = head.length < 4 || head.toString("latin1", 0, 4) === "RIFF";
  const wave = head.length < 12 || head.toString("latin1", 8, 12) === "WAVE";
  if (!riff || !wave) throw new AudioFormatError("not a WAV file (no RIFF/WAVE header); for headerless audio pass --raw");
  if (head.length < 12) return "more";
  let offset = 12;
  let format: AudioFormat | undefined;
  while (offset + 8 <= head.length) {
    const id = head.toString("latin1", offset, offset + 4);
    const size = head.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === "data") {
      if (format === undefined) throw new AudioFormatError("WAV file has its data chunk before its fmt chunk");
      // 0 and 0xFFFFFFFF are what recorders write when they stream before knowing the length.
      const known = size !== 0 && size !== 0xffffffff;
      return { format, dataOffset: body, dataBytes: known ? size : undefined };
    }
    if (id === "fmt ") {
      if (body + 16 > head.length) return "more";
      format = fmtChunk(head, body, size);
    }
    offset = body + size + (size % 2); // chunks are padded to an even length
  }
  if (head.length > MAX_HEADER_BYTES) throw new AudioFormatError("no data chunk in the first MiB of the WAV file");
  return "more";
}

function fmtChunk(head: Buffer, at: number, size: number): AudioFormat {
  let tag = head.readUInt16LE(at);
  const channels = head.readUInt16LE(at + 2);
  const sampleRate = head.readUInt32LE(at + 4);
  const bits = head.readUInt16LE(at + 14);
  if (tag === WAVE_FORMAT_EXTENSIBLE && size >= 40 && at + 26 <= head.length) {
    tag = head.readUInt16LE(at + 24); // the first two bytes of the SubFormat GUID
  }
  return { encoding: encodingOf(tag, bits), sampleRate, channels };
}

function encodingOf(tag: number, bits: number): Encoding {
  if (tag === WAVE_FORMAT_PCM && bits === 16) return "linear16";
  if (tag === WAVE_FORMAT_PCM && bits === 32) return "int32";
  if (tag === WAVE_FORMAT_IEEE_FLOAT && bits === 32) return "float32";
  throw new AudioFormatError(
    `unsupported WAV sample format (format tag ${tag}, ${bits} bits); ` +
      "use 16- or 32-bit PCM or 32-bit float, e.g. `ffmpeg -i IN -ar 16000 -ac 1 -c:a pcm_s16le OUT.wav`",
  );
}
