/**
 * A small client for asr.v1.RecognizerService on @grpc/grpc-js and the ts-proto stubs (src/gen).
 *
 *     const client = new RecognizerClient("localhost:50051", { apiKey, ca });
 *     for await (const event of client.stream(chunks, { format, interimResults: true })) { ... }
 *
 * Audio goes in as an (async) iterable of raw byte chunks in the configured format, with optional
 * `{ type: "finalize" }` controls mixed in; typed events come out (types.ts). A failed call throws
 * RecognizerError (errors.ts) with the status code and the server's field violations and retry delay.
 */
import { readFileSync } from "node:fs";
import { ChannelCredentials, ClientDuplexStream, credentials, ServiceError } from "@grpc/grpc-js";
import { configToProto, enginesFromProto, eventFromProto } from "./convert";
import { fromServiceError, keyMetadata } from "./errors";
import * as pb from "./gen/asr/v1/asr";
import { AudioItem, EngineList, RecognizerEvent, StreamConfig } from "./types";

export const DEFAULT_SERVER = "localhost:50051";
const SERVICE = "asr.v1.RecognizerService";
const MESSAGE_LIMIT_BYTES = 16 * 1024 * 1024;
const LIST_ENGINES_TIMEOUT_SECONDS = 30;

export interface ClientOptions {
  /** Connect over TLS trusting the system's CAs (implied by `ca`). */
  tls?: boolean;
  /** PEM file of the CA to trust (a private CA, as in docs/security.md). */
  ca?: string;
  /** Sent as `authorization: Bearer KEY` on every call; default $ASR_API_KEY. */
  apiKey?: string;
  /** Deadline of each call in seconds; undefined = none for streams, 30 s for ListEngines. */
  timeoutSeconds?: number;
}

/** $ASR_SERVER, else localhost:50051. */
export function defaultServer(): string {
  return process.env.ASR_SERVER || DEFAULT_SERVER;
}

/** The same channel policy as the Python SDK (clients/targets.py): round robin, retry UNAVAILABLE. */
function channelOptions(): Record<string, string | number> {
  const serviceConfig = {
    loadBalancingConfig: [{ round_robin: {} }],
    methodConfig: [
      {
        name: [{ service: SERVICE }],
        retryPolicy: {
          maxAttempts: 3,
          initialBackoff: "0.1s",
          maxBackoff: "1s",
          backoffMultiplier: 2,
          retryableStatusCodes: ["UNAVAILABLE"],
        },
      },
    ],
  };
  return {
    "grpc.service_config": JSON.stringify(serviceConfig),
    "grpc.service_config_disable_resolution": 1,
    "grpc.initial_reconnect_backoff_ms": 250,
    "grpc.max_reconnect_backoff_ms": 1000,
    "grpc.keepalive_time_ms": 20_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.max_receive_message_length": MESSAGE_LIMIT_BYTES,
    "grpc.max_send_message_length": MESSAGE_LIMIT_BYTES,
  };
}

function channelCredentials(options: ClientOptions): ChannelCredentials {
  if (!options.tls && !options.ca) return credentials.createInsecure();
  let roots: Buffer | undefined; // undefined = the system's trusted roots
  if (options.ca) {
    try {
      roots = readFileSync(options.ca);
    } catch (error) {
      throw new Error(`cannot read the CA file ${options.ca}: ${(error as Error).message}`);
    }
  }
  return credentials.createSsl(roots);
}

/** One channel to the cores; many `stream` calls may share it. */
export class RecognizerClient {
  readonly address: string;
  private readonly stub: pb.RecognizerServiceClient;
  private readonly apiKey: string | undefined;
  private readonly timeoutSeconds: number | undefined;

  /** `address` is a gRPC target: HOST:PORT, dns:///HOST:PORT, ipv4:A:P,B:P, unix:PATH. */
  constructor(address: string = defaultServer(), options: ClientOptions = {}) {
    this.address = address;
    this.apiKey = options.apiKey ?? (process.env.ASR_API_KEY || undefined);
    this.timeoutSeconds = options.timeoutSeconds;
    // Call metadata rather than call credentials: the key goes on plaintext channels too (a trusted
    // network), as with the Python SDK; use TLS whenever the server is not on this machine.
    this.stub = new pb.RecognizerServiceClient(address, channelCredentials(options), channelOptions());
  }

  close(): void {
    this.stub.close();
  }

  async listEngines(): Promise<EngineList> {
    const deadline = deadlineIn(this.timeoutSeconds ?? LIST_ENGINES_TIMEOUT_SECONDS);
    const reply = await new Promise<pb.ListEnginesResponse>((resolve, reject) => {
      this.stub.listEngines({}, keyMetadata(this.apiKey), { deadline }, (error, response) =>
        error ? reject(fromServiceError(error, this.address)) : resolve(response),
      );
    });
    return enginesFromProto(reply);
  }

  /**
   * One Recognize call: send `config`, then each item of `audio`, then half-close; yield each server
   * event as it arrives, ending after the Summary. An error thrown by `audio` cancels the call and is
   * rethrown here; leaving the loop early cancels the call.
   */
  async *stream(
    audio: AsyncIterable<AudioItem> | Iterable<AudioItem>,
    config: StreamConfig = {},
  ): AsyncGenerator<RecognizerEvent> {
    const options = this.timeoutSeconds === undefined ? {} : { deadline: deadlineIn(this.timeoutSeconds) };
    const call = this.stub.recognize(keyMetadata(this.apiKey), options);
    call.on("error", () => undefined); // the status is read below; a cancelled call must not crash the process
    const writer = new Writer(call);
    const writing = writer.run(configToProto(config), audio);
    try {
      for await (const response of call as AsyncIterable<pb.RecognizeResponse>) {
        const event = eventFromProto(response);
        if (event !== undefined) yield event;
      }
    } catch (error) {
      if (writer.sourceError !== undefined) throw writer.sourceError;
      throw fromServiceError(error as ServiceError, this.address);
    } finally {
      writer.stop();
      call.cancel(); // a no-op once the call has ended
    }
    await writing;
    if (writer.sourceError !== undefined) throw writer.sourceError;
  }
}

/** Sends the client's half of one call, honouring flow control, until the audio ends or the call does. */
class Writer {
  sourceError: unknown;
  private stopped = false;

  constructor(private readonly call: ClientDuplexStream<pb.RecognizeRequest, pb.RecognizeResponse>) {
    call.on("status", () => this.stop());
  }

  stop(): void {
    this.stopped = true;
  }

  async run(config: pb.StreamingConfig, audio: AsyncIterable<AudioItem> | Iterable<AudioItem>): Promise<void> {
    try {
      await this.send({ request: { $case: "config", value: config } });
      for await (const item of audio) {
        if (this.stopped) return;
        await this.send(requestOf(item));
      }
      if (!this.stopped) this.call.end();
    } catch (error) {
      this.sourceError = error;
      this.call.cancel();
    }
  }

  private async send(request: pb.RecognizeRequest): Promise<void> {
    if (this.stopped || this.call.write(request)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.call.off("drain", done).off("status", done).off("close", done);
        resolve();
      };
      this.call.on("drain", done).on("status", done).on("close", done);
    });
  }
}

function requestOf(item: AudioItem): pb.RecognizeRequest {
  if (item instanceof Uint8Array) {
    const bytes = Buffer.isBuffer(item) ? item : Buffer.from(item.buffer, item.byteOffset, item.byteLength);
    return { request: { $case: "audio", value: bytes } };
  }
  if (item.type === "finalize") return { request: { $case: "control", value: { action: { $case: "finalize", value: {} } } } };
  throw new TypeError(`audio items must be bytes or { type: "finalize" }, not ${JSON.stringify(item)}`);
}

function deadlineIn(seconds: number): Date {
  return new Date(Date.now() + seconds * 1000);
}
