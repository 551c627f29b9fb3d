/**
 * Audio in: a WAV or headerless PCM file, or stdin, read as it arrives and cut into fixed-length
 * chunks of whole frames, released at the speed of speech (`realtime`) or as fast as they are read.
 * The server resamples and downmixes, so samples are sent in the source's own format.
 */
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { AudioFormat, Encoding } from "./types";
import { AudioFormatError, parseWavHeader } from "./wav";

export { AudioFormatError } from "./wav";

const BYTES_PER_SAMPLE: Record<Encoding, number> = { linear16: 2, float32: 4, int32: 4 };

export function frameBytes(format: AudioFormat): number {
  return BYTES_PER_SAMPLE[format.encoding] * format.channels;
}

/** An opened audio source: its format (from the WAV header or as given) and its samples. */
export interface AudioSource {
  format: AudioFormat;
  /** `chunkMs` of audio per chunk (the last may be shorter); paced at the speed of speech with `realtime`. */
  chunks(chunkMs: number, realtime: boolean): AsyncGenerator<Buffer>;
}

/** Open `path` ("-" = stdin) as WAV, or as headerless PCM in `raw` format when given. */
export async function openAudio(path: string, raw?: AudioFormat): Promise<AudioSource> {
  const stream: Readable = path === "-" ? process.stdin : createReadStream(path);
  const pieces = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let head = Buffer.alloc(0);
  let format = raw;
  let remaining: number | undefined;
  try {
    while (format === undefined) {
      const next = await pieces.next();
      if (next.done) throw new AudioFormatError(`ends after ${head.length} bytes, before its WAV header does`);
      head = Buffer.concat([head, next.value]);
      const header = parseWavHeader(head);
      if (header === "more") continue;
      format = header.format;
      remaining = header.dataBytes;
      head = head.subarray(header.dataOffset);
    }
  } catch (error) {
    stream.destroy();
    throw readError(error, path);
  }
  checkFormat(format);
  const known = format;
  return { format: known, chunks: (chunkMs, realtime) => chunked(pieces, head, remaining, known, chunkMs, realtime, path) };
}

function checkFormat(format: AudioFormat): void {
  if (format.sampleRate < 8000 || format.sampleRate > 48000) {
    throw new AudioFormatError(`sample rate ${format.sampleRate} Hz is outside 8000..48000; resample it first`);
  }
  if (format.channels < 1 || format.channels > 8) {
    throw new AudioFormatError(`${format.channels} channels; the server takes 1 to 8`);
  }
}

async function* chunked(
  pieces: AsyncIterator<Buffer>,
  first: Buffer,
  dataBytes: number | undefined,
  format: AudioFormat,
  chunkMs: number,
  realtime: boolean,
  path: string,
): AsyncGenerator<Buffer> {
  if (!(chunkMs > 0)) throw new RangeError("chunkMs must be positive");
  const frame = frameBytes(format);
  const size = Math.max(1, Math.floor((format.sampleRate * chunkMs) / 1000)) * frame;
  const bytesPerSecond = format.sampleRate * frame;
  const started = performance.now();
  let sent = 0;
  let left = dataBytes ?? Infinity; // bytes of samples still to come (a WAV may carry chunks after them)
  let buffer = first.subarray(0, Math.min(first.length, left));
  left -= buffer.length;
  let ended = false;
  while (true) {
    while (buffer.length < size && !ended && left > 0) {
      let next: IteratorResult<Buffer>;
      try {
        next = await pieces.next();
      } catch (error) {
        throw readError(error, path);
      }
      if (next.done) ended = true;
      else {
        const piece = next.value.subarray(0, Math.min(next.value.length, left));
        left -= piece.length;
        buffer = Buffer.concat([buffer, piece]);
      }
    }
    const take = buffer.length >= size ? size : buffer.length - (buffer.length % frame);
    if (take === 0) break; // a trailing partial frame is dropped: the server takes whole frames only
    if (realtime) {
      const due = started + (sent / bytesPerSecond) * 1000;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
    }
    yield buffer.subarray(0, take);
    sent += take;
    buffer = buffer.subarray(take);
  }
  await pieces.return?.();
}

function describe(path: string): string {
  return path === "-" ? "standard input" : path;
}

function readError(error: unknown, path: string): Error {
  if (error instanceof AudioFormatError) return new AudioFormatError(`${describe(path)}: ${error.message}`);
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return new AudioFormatError(`no such file: ${path}`);
  if (code === "EISDIR") return new AudioFormatError(`${path} is a directory, not an audio file`);
  if (code === "EACCES") return new AudioFormatError(`cannot read ${path}: permission denied`);
  return error instanceof Error ? error : new Error(String(error));
}
