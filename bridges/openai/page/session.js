// One live-captions session over the bridge's Realtime transcription WebSocket
// (GET /v1/realtime?intent=transcription, docs/openai.md): a GA `session.update` of type
// "transcription" (24 kHz `audio/pcm`, server VAD so the server commits each utterance), audio as
// `input_audio_buffer.append` events, and the items' events back. A lost connection is
// reopened by itself with backoff (a busy server: after the time it names); the transcript is
// the page's and survives it. Times: the server counts audio from the start of each connection;
// `base` (the first sample sent on it) maps them to the microphone's samples.

import { SAMPLE_RATE } from "./capture.js";

const QUEUE_SECONDS = 10; // audio held while (re)connecting; older audio is dropped
const BACKOFF_SECONDS = [1, 2, 4, 8, 15];
const STOP_WAIT_MS = 4000; // how long Stop waits for the open utterance's final
const DEFAULT_RETRY_SECONDS = 5;
// The one Realtime transcription model that labels speakers (docs/openai.md); the model picker's
// choices do not.
export const DIARIZING_MODEL = "gpt-4o-transcribe-diarize";

export class RealtimeSession {
  // settings(): {model, language, prompt, key, speakers}; events: see app.js (onStatus, onStarted,
  // onDelta, onSegment, onStopped, onCompleted, onNotice, onFatal).
  constructor(settings, events) {
    this.settings = settings;
    this.events = events;
    this.socket = null;
    this.queue = [];
    this.ready = false; // session.update sent on the open socket
    this.base = 0;
    this.running = false;
    this.attempt = 0;
    this.retryAfter = null; // seconds, from a busy error event
    this.lastError = null;
    this.open = new Map(); // item id -> {started, stopped}: items not yet completed
    this.timer = null;
  }

  start() {
    this.running = true;
    this.connect();
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const { key } = this.settings();
    const query = new URLSearchParams({ intent: "transcription" });
    if (key) query.set("api_key", key); // browsers cannot set headers on a WebSocket
    return `${scheme}://${location.host}/v1/realtime?${query}`;
  }

  connect() {
    this.events.onStatus(this.attempt ? "reconnecting" : "connecting",
      this.attempt ? "Reconnecting…" : "Connecting…");
    const socket = new WebSocket(this.url());
    let opened = false;
    this.socket = socket;
    this.ready = false;
    this.lastError = this.retryAfter = null;
    socket.onopen = () => { opened = true; };
    socket.onmessage = ({ data }) => this.received(JSON.parse(data));
    socket.onclose = (event) => { if (this.socket === socket) this.closed(event, opened); };
  }

  configure() {
    const { model, language, prompt, speakers } = this.settings();
    this.sendEvent({
      type: "session.update",
      session: {
        type: "transcription",
        audio: {
          input: {
            format: { type: "audio/pcm", rate: SAMPLE_RATE },
            transcription: { model: speakers ? DIARIZING_MODEL : model, prompt, ...(language ? { language } : {}) },
            turn_detection: { type: "server_vad", silence_duration_ms: 500 },
          },
        },
      },
    });
    this.ready = true;
    this.base = this.queue[0]?.firstSample ?? null;
    for (const chunk of this.queue.splice(0)) this.append(chunk);
  }

  // A microphone chunk ({pcm, firstSample}): sent now, or queued while connecting.
  push(chunk) {
    if (!this.running) return;
    if (!this.ready) {
      this.queue.push(chunk);
      const limit = (QUEUE_SECONDS * SAMPLE_RATE * 2) / chunk.pcm.byteLength;
      while (this.queue.length > limit) this.queue.shift();
      return;
    }
    this.append(chunk);
  }

  append(chunk) {
    this.base ??= chunk.firstSample;
    this.sendEvent({ type: "input_audio_buffer.append", audio: base64(chunk.pcm) });
  }

  sendEvent(event) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(event));
  }

  sample(ms) {
    return (this.base ?? 0) + Math.round((ms * SAMPLE_RATE) / 1000);
  }

  received(event) {
    const item = event.item_id;
    switch (event.type) {
      case "session.created":
        this.attempt = 0;
        this.configure();
        this.events.onStatus("live", "Listening");
        break;
      case "input_audio_buffer.speech_started":
        this.open.set(item, { stopped: false });
        this.events.onStarted(item, this.sample(event.audio_start_ms));
        break;
      case "conversation.item.input_audio_transcription.delta":
        if (!this.open.has(item)) this.open.set(item, { stopped: false });
        this.events.onDelta(item, event.delta);
        break;
      case "conversation.item.input_audio_transcription.segment": // a speaker's run, before completed
        this.events.onSegment(item, { start: this.sample(event.start * 1000), end: this.sample(event.end * 1000),
          text: event.text, speaker: event.speaker });
        break;
      case "input_audio_buffer.speech_stopped":
        this.open.set(item, { stopped: true });
        this.events.onStopped(item, this.sample(event.audio_end_ms));
        break;
      case "conversation.item.input_audio_transcription.completed":
        this.open.delete(item);
        this.events.onCompleted(item, event.transcript);
        break;
      case "conversation.item.input_audio_transcription.failed":
        this.open.delete(item);
        this.events.onNotice(`A phrase could not be transcribed: ${event.error?.message ?? "unknown error"}`);
        break;
      case "error":
        this.errorEvent(event.error ?? {});
        break;
    }
  }

  errorEvent(error) {
    this.lastError = error;
    if (error.code === "input_audio_buffer_commit_empty") return; // Stop's commit after a quiet moment
    if (isBusy(error)) {
      this.retryAfter = retrySeconds(error.message);
      return;
    }
    this.events.onNotice(error.message ?? "The server reported an error.");
  }

  async closed(event, opened) {
    this.socket = null;
    this.ready = false;
    this.abandonOpenItems();
    if (!this.running) return;
    if (!opened) return this.refused();
    if (event.code === 1013 || this.retryAfter !== null) {
      const seconds = this.retryAfter ?? retrySeconds(event.reason);
      return this.retry(seconds, `The server is busy. Trying again in ${seconds} s — the transcript is kept.`, "busy");
    }
    if ([1003, 1007, 1008, 1009].includes(event.code)) {
      return this.fatal(this.lastError?.message || event.reason || "The server refused the session.");
    }
    this.backoff("The connection was lost");
  }

  // The socket failed before it opened: a browser is not told the HTTP status of a refused
  // upgrade, so the same check is asked of GET /v1/models, whose status it can read.
  async refused() {
    const { key } = this.settings();
    let response = null;
    try {
      response = await fetch("/v1/models", { headers: key ? { Authorization: `Bearer ${key}` } : {} });
    } catch {
      return this.running && this.backoff("The server cannot be reached");
    }
    if (!this.running) return; // stopped meanwhile
    if (response.status === 401) {
      return this.fatal(key ? "The API key was refused. Check it and press Start again."
        : "This server needs an API key. Enter it under Settings and press Start again.", "key");
    }
    if (response.status === 403) {
      return this.fatal("The server does not allow this page's origin (its --allowed-origins).");
    }
    if (response.status === 503) {
      const seconds = Number(response.headers.get("Retry-After")) || DEFAULT_RETRY_SECONDS;
      return this.retry(seconds, `The server is busy. Trying again in ${seconds} s — the transcript is kept.`, "busy");
    }
    this.backoff("The connection failed");
  }

  backoff(what) {
    const seconds = BACKOFF_SECONDS[Math.min(this.attempt, BACKOFF_SECONDS.length - 1)];
    this.retry(seconds, `${what}. Reconnecting in ${seconds} s — the transcript is kept.`, "reconnecting");
  }

  retry(seconds, message, kind) {
    this.attempt += 1;
    this.events.onStatus(kind, message);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.running && this.connect(), seconds * 1000);
  }

  fatal(message, kind = "error") {
    this.running = false;
    this.events.onFatal(message, kind);
  }

  abandonOpenItems() {
    for (const id of this.open.keys()) this.events.onCompleted(id, null); // their partial text stays as said
    this.open.clear();
  }

  // Ends the session: the utterance being spoken is committed, its final awaited (up to
  // STOP_WAIT_MS), then the socket is closed normally.
  async stop() {
    this.running = false;
    clearTimeout(this.timer);
    const socket = this.socket;
    if (!socket) return;
    if ([...this.open.values()].some((item) => !item.stopped)) this.sendEvent({ type: "input_audio_buffer.commit" });
    const deadline = performance.now() + STOP_WAIT_MS;
    while (this.open.size && performance.now() < deadline && socket.readyState === WebSocket.OPEN) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    this.socket = null;
    this.abandonOpenItems();
    if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close(1000, "stopped");
  }
}

function isBusy(error) {
  return error.type === "rate_limit_error" || ["resource_exhausted", "unavailable"].includes(error.code);
}

function retrySeconds(text) {
  const match = /retry in (\d+)/i.exec(text ?? "");
  return match ? Number(match[1]) : DEFAULT_RETRY_SECONDS;
}

function base64(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}
