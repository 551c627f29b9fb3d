/**
 * `asr-transcribe FILE|-`: stream a WAV or raw PCM file (or stdin) to the core and print the transcript.
 *
 * stdout is the transcript (one final per line, or JSON lines with --json, partials included);
 * everything else goes to stderr. Exit codes as the Python CLI: 0 ok · 1 unexpected failure ·
 * 2 bad usage or unreadable audio · 3 server unreachable · 4 the server refused or failed the call ·
 * 130 interrupted.
 */
import { parseArgs } from "node:util";
import { AudioFormatError, openAudio } from "./audio";
import { defaultServer, RecognizerClient } from "./client";
import { RecognizerError, ServerUnreachable } from "./errors";
import { resultJson, StatusLine, summaryJson } from "./render";
import { transcribe } from "./transcribe";
import { AudioFormat, Encoding, RecognizerEvent, Segmentation } from "./types";

export const EXIT = { ok: 0, failure: 1, usage: 2, unreachable: 3, rejected: 4, interrupted: 130 } as const;

const USAGE = `usage: asr-transcribe [options] FILE|-

Stream a WAV file, raw PCM (--raw) or standard input (-) to the asr.v1 server; finals on stdout.

  --server TARGET     gRPC target: HOST:PORT, dns:///HOST:PORT, ipv4:A:P,B:P, unix:PATH
                      (default: $ASR_SERVER or localhost:50051)
  --tls               connect over TLS, trusting the system's CAs
  --ca PEM            connect over TLS, trusting this CA (implies --tls)
  --api-key KEY       sent as \`authorization: Bearer KEY\` (default: $ASR_API_KEY)
  --timeout SECONDS   deadline for the whole call (default: none)
  --realtime          send audio at the speed of speech, like a microphone
  --chunk-ms N        audio per message (default 100)
  --raw               the input is headerless PCM: give --rate, --channels, --encoding
  --rate HZ           sample rate of --raw input (default 16000)
  --channels N        channels of --raw input (default 1)
  --encoding E        linear16 (default), float32 or int32, little-endian
  --language TAG      BCP-47 tag such as en-US (default: detect)
  --engine NAME       engine name or alias (default: the server's)
  --model NAME        model name or alias (default: the engine's)
  --translate         English text from any language
  --segmentation S    live or accurate (default: accurate, or the server's with --realtime)
  --no-interim        do not ask for partial results
  --json              one JSON object per result (partials and finals) and a summary on stdout
  -v, --verbose       log to stderr
  -h, --help          show this help`;

const OPTIONS = {
  server: { type: "string" },
  tls: { type: "boolean" },
  ca: { type: "string" },
  "api-key": { type: "string" },
  timeout: { type: "string" },
  realtime: { type: "boolean" },
  "chunk-ms": { type: "string" },
  raw: { type: "boolean" },
  rate: { type: "string" },
  channels: { type: "string" },
  encoding: { type: "string" },
  language: { type: "string" },
  engine: { type: "string" },
  model: { type: "string" },
  translate: { type: "boolean" },
  segmentation: { type: "string" },
  "no-interim": { type: "boolean" },
  json: { type: "boolean" },
  verbose: { type: "boolean", short: "v" },
  help: { type: "boolean", short: "h" },
} as const;

class UsageError extends Error {}

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

function positiveNumber(values: Values, name: "timeout" | "chunk-ms" | "rate" | "channels"): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`--${name} takes a positive number, not ${JSON.stringify(text)}`);
  return value;
}

function rawFormat(values: Values): AudioFormat | undefined {
  const given = values.rate !== undefined || values.channels !== undefined || values.encoding !== undefined;
  if (!values.raw) {
    if (given) throw new UsageError("--rate, --channels and --encoding describe --raw input; a WAV header says them itself");
    return undefined;
  }
  const encoding = values.encoding ?? "linear16";
  if (!["linear16", "float32", "int32"].includes(encoding)) {
    throw new UsageError(`--encoding takes linear16, float32 or int32, not ${JSON.stringify(encoding)}`);
  }
  return {
    encoding: encoding as Encoding,
    sampleRate: positiveNumber(values, "rate") ?? 16000,
    channels: positiveNumber(values, "channels") ?? 1,
  };
}

function segmentationOf(values: Values): Segmentation {
  const value = values.segmentation ?? "";
  if (value !== "" && value !== "live" && value !== "accurate") {
    throw new UsageError(`--segmentation takes live or accurate, not ${JSON.stringify(value)}`);
  }
  return value;
}

/** Prints events: finals (or JSON lines) on stdout, partials on the stderr status line. */
function printer(asJson: boolean, verbose: boolean): { print: (e: RecognizerEvent) => void; close: () => void } {
  const status = new StatusLine(process.stderr);
  const print = (event: RecognizerEvent): void => {
    if (event.type === "session_started") {
      if (verbose) process.stderr.write(`session ${event.sessionId} on ${event.engine}/${event.model}\n`);
    } else if (event.type === "result") {
      if (asJson) process.stdout.write(resultJson(event) + "\n");
      if (!event.isFinal) return status.show(`[${event.segmentId}] ${event.text.trim()}`);
      status.clear();
      if (!asJson && event.text.trim()) process.stdout.write(event.text.trim() + "\n");
    } else if (event.type === "summary") {
      status.clear();
      if (asJson) process.stdout.write(summaryJson(event) + "\n");
      if (verbose) process.stderr.write(`${event.audioProcessed.toFixed(1)} s of audio, ${event.segmentCount} segments\n`);
    }
  };
  return { print, close: () => status.clear() };
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  if (values.help) {
    process.stdout.write(USAGE + "\n");
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError("give one audio file, or - for standard input");
  const raw = rawFormat(values);
  const segmentation = segmentationOf(values);
  const chunkMs = positiveNumber(values, "chunk-ms") ?? 100;
  const source = await openAudio(positionals[0], raw); // a bad file fails here, before any connection
  const server = values.server ?? defaultServer();
  const client = new RecognizerClient(server, {
    tls: values.tls,
    ca: values.ca,
    apiKey: values["api-key"],
    timeoutSeconds: positiveNumber(values, "timeout"),
  });
  const out = printer(values.json ?? false, values.verbose ?? false);
  try {
    const transcript = await transcribe(
      client,
      source,
      {
        engine: values.engine,
        model: values.model,
        language: values.language,
        task: values.translate ? "translate" : "transcribe",
        interimResults: !values["no-interim"],
        segmentation,
      },
      { realtime: values.realtime, chunkMs, onEvent: out.print },
    );
    if (!transcript.text.trim()) process.stderr.write(`warning: no speech recognized in ${positionals[0]}\n`);
  } finally {
    out.close();
    client.close();
  }
  return EXIT.ok;
}

function hint(error: RecognizerError): string {
  if (error.codeName === "UNAUTHENTICATED") return "\nThe server needs an API key: pass --api-key KEY or set ASR_API_KEY.";
  if (error.codeName === "DEADLINE_EXCEEDED") return "\nThe call took longer than --timeout allows; raise it or leave it out.";
  if (error.retryAfter !== undefined) return `\nThe server is busy; try again in ${error.retryAfter} s.`;
  return "";
}

function describe(error: RecognizerError): string {
  const failed = ["INTERNAL", "UNKNOWN", "DEADLINE_EXCEEDED", "DATA_LOSS"].includes(error.codeName);
  const lines = [`the server at ${error.address} ${failed ? "failed" : "refused"} the request: ${error.codeName}: ${error.details}`];
  for (const v of error.fieldViolations) lines.push(v.description === error.details ? `  field: ${v.field}` : `  ${v.field}: ${v.description}`);
  return lines.join("\n") + hint(error);
}

/** Run the CLI with `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const fail = (message: string, code: number): number => {
    process.stderr.write(`error: ${message}\n`);
    return code;
  };
  try {
    return await run(argv);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (error instanceof UsageError || (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"))) {
      return fail(`${(error as Error).message}\n(asr-transcribe --help lists the options)`, EXIT.usage);
    }
    if (error instanceof AudioFormatError) return fail(error.message, EXIT.usage);
    if (error instanceof ServerUnreachable) return fail(error.message, EXIT.unreachable);
    if (error instanceof RecognizerError) return fail(describe(error), EXIT.rejected);
    return fail(`unexpected ${(error as Error).name}: ${(error as Error).message}`, EXIT.failure);
  }
}
