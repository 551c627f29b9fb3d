/**
 * Errors from the recognizer, with the google.rpc details the core attaches (grpc-status-details-bin:
 * a google.rpc.Status holding BadRequest, RetryInfo and ErrorInfo) decoded from the wire format.
 * Those three messages are small and stable, so they are read field by field here rather than
 * generated from googleapis protos this repository does not carry.
 */
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { Metadata, ServiceError, status } from "@grpc/grpc-js";

export interface FieldViolation {
  field: string;
  description: string;
}

/** A call that ended with a non-OK status. */
export class RecognizerError extends Error {
  override name = "RecognizerError";

  constructor(
    /** The gRPC status code (grpc.status). */
    readonly code: status,
    readonly details: string,
    readonly address: string,
    /** Seconds after which the server says the call may succeed (RetryInfo). */
    readonly retryAfter?: number,
    readonly fieldViolations: FieldViolation[] = [],
    /** ErrorInfo.reason, e.g. ENGINE_UNAVAILABLE. */
    readonly reason = "",
  ) {
    super(`${status[code] ?? code}: ${details}`);
  }

  get codeName(): string {
    return status[this.code] ?? String(this.code);
  }
}

/** Nothing answered at the address (no server, wrong port, TLS mismatch). */
export class ServerUnreachable extends RecognizerError {
  override name = "ServerUnreachable";

  constructor(code: status, details: string, address: string) {
    super(code, details, address);
    this.message =
      `cannot reach the ASR server at ${address}: ${details}\n` +
      "Start it with `make run`, or point to a running one with --server HOST:PORT or the ASR_SERVER environment variable.";
  }
}

const TYPE_PREFIX = "type.googleapis.com/";

/** The RecognizerError for a failed call; a bare UNAVAILABLE (no details from the core) is ServerUnreachable. */
export function fromServiceError(error: ServiceError, address: string): RecognizerError {
  const raw = error.metadata?.get("grpc-status-details-bin")[0];
  if (raw === undefined) {
    if (error.code === status.UNAVAILABLE) return new ServerUnreachable(error.code, error.details, address);
    return new RecognizerError(error.code, error.details, address);
  }
  const details = decodeStatusDetails(Buffer.isBuffer(raw) ? raw : Buffer.from(raw));
  return new RecognizerError(
    error.code,
    details.message || error.details,
    address,
    details.retryAfter,
    details.fieldViolations,
    details.reason,
  );
}

interface StatusDetails {
  message: string;
  retryAfter?: number;
  fieldViolations: FieldViolation[];
  reason: string;
}

/** google.rpc.Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; } */
export function decodeStatusDetails(bytes: Uint8Array): StatusDetails {
  const out: StatusDetails = { message: "", fieldViolations: [], reason: "" };
  eachField(bytes, (field, reader, wireType) => {
    if (field === 2 && wireType === WireType.LengthDelimited) out.message = reader.string();
    else if (field === 3 && wireType === WireType.LengthDelimited) addDetail(out, reader.bytes());
    else reader.skip(wireType);
  });
  return out;
}

/** google.protobuf.Any { string type_url = 1; bytes value = 2; } */
function addDetail(out: StatusDetails, any: Uint8Array): void {
  let typeUrl = "";
  let value: Uint8Array = new Uint8Array();
  eachField(any, (field, reader, wireType) => {
    if (field === 1 && wireType === WireType.LengthDelimited) typeUrl = reader.string();
    else if (field === 2 && wireType === WireType.LengthDelimited) value = reader.bytes();
    else reader.skip(wireType);
  });
  const type = typeUrl.startsWith(TYPE_PREFIX) ? typeUrl.slice(TYPE_PREFIX.length) : typeUrl;
  if (type === "google.rpc.RetryInfo") out.retryAfter = firstMessage(value, 1, durationSeconds);
  else if (type === "google.rpc.BadRequest") out.fieldViolations.push(...fieldViolations(value));
  else if (type === "google.rpc.ErrorInfo") out.reason = firstMessage(value, 1, (b) => Buffer.from(b).toString()) ?? "";
}

/** google.rpc.BadRequest { repeated FieldViolation field_violations = 1; } FieldViolation { field = 1; description = 2; } */
function fieldViolations(bytes: Uint8Array): FieldViolation[] {
  const found: FieldViolation[] = [];
  eachField(bytes, (field, reader, wireType) => {
    if (field !== 1 || wireType !== WireType.LengthDelimited) {
      reader.skip(wireType);
      return;
    }
    const violation: FieldViolation = { field: "", description: "" };
    eachField(reader.bytes(), (f, r, w) => {
      if (f === 1 && w === WireType.LengthDelimited) violation.field = r.string();
      else if (f === 2 && w === WireType.LengthDelimited) violation.description = r.string();
      else r.skip(w);
    });
    found.push(violation);
  });
  return found;
}

/** google.protobuf.Duration { int64 seconds = 1; int32 nanos = 2; } as seconds. */
function durationSeconds(bytes: Uint8Array): number {
  let secs = 0;
  let nanos = 0;
  eachField(bytes, (field, reader, wireType) => {
    if (field === 1 && wireType === WireType.Varint) secs = Number(reader.int64());
    else if (field === 2 && wireType === WireType.Varint) nanos = reader.int32();
    else reader.skip(wireType);
  });
  return secs + nanos / 1e9;
}

function firstMessage<T>(bytes: Uint8Array, wanted: number, decode: (b: Uint8Array) => T): T | undefined {
  let found: T | undefined;
  eachField(bytes, (field, reader, wireType) => {
    if (field === wanted && wireType === WireType.LengthDelimited && found === undefined) found = decode(reader.bytes());
    else reader.skip(wireType);
  });
  return found;
}

function eachField(bytes: Uint8Array, visit: (field: number, reader: BinaryReader, wireType: WireType) => unknown): void {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    visit(field, reader, wireType);
  }
}

/** Metadata carrying an API key as the core and the bridges expect it (docs/security.md). */
export function keyMetadata(apiKey: string | undefined): Metadata {
  const metadata = new Metadata();
  if (apiKey) metadata.set("authorization", `Bearer ${apiKey}`);
  return metadata;
}
