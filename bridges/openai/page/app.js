// The live-captions page (docs/page.md): the microphone's audio to the Realtime transcription
// WebSocket, its items shown as partial text then timed finals; a file's transcript streamed
// from POST /v1/audio/transcriptions; copy and download of the transcript.

import { Microphone, MicrophoneError, SAMPLE_RATE } from "./capture.js";
import { RealtimeSession } from "./session.js";
import { Settings } from "./settings.js";
import { SpeakerColours } from "./speakers.js";
import { Transcript, clock } from "./transcript.js";
import { transcribeFile } from "./upload.js";

const $ = (id) => document.getElementById(id);
const transcript = new Transcript();
const speakers = new SpeakerColours();
const settings = new Settings({
  model: $("model"), language: $("language"), prompt: $("prompt"), hotwords: $("hotwords"), speakers: $("speakers"),
  key: $("key"), remember: $("remember"),
});

let microphone = null;
let session = null;
let offset = 0; // seconds of earlier runs: times go on from one Start to the next
const speechEnds = new Map(); // item id -> when its last sample was captured (performance.now())

function status(kind, message) {
  $("status").dataset.kind = kind;
  $("status").textContent = message;
}

function alertUser(message, focus) {
  $("alert").textContent = message;
  $("alert").hidden = !message;
  focus?.focus();
}

// Start or Stop enabled; the keyboard focus moves with it, unless it is elsewhere (the key field).
function running(on, refocus = document.activeElement === (on ? $("start") : $("stop"))) {
  $("start").disabled = on;
  $("stop").disabled = !on;
  settings.lock(on);
  if (refocus) (on ? $("stop") : $("start")).focus({ preventScroll: true });
}

// ---- captions ---------------------------------------------------------------------------
function showPartial() {
  const text = transcript.partialText();
  $("partial-text").textContent = text;
  $("partial").hidden = !text;
  refreshEmpty();
}

function showFinal(final) {
  const item = document.createElement("li");
  const time = document.createElement("time");
  time.textContent = clock(final.start);
  time.dateTime = `PT${final.start.toFixed(1)}S`;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = final.text;
  item.append(time, " ");
  if (final.speaker) item.append(speakers.badge(item, final.speaker), " ");
  item.append(text);
  if (final.latency !== null && final.latency !== undefined) {
    const latency = document.createElement("span");
    latency.className = "latency";
    latency.textContent = `${final.latency.toFixed(1)} s`;
    latency.title = "From the end of speech to this final text";
    latency.setAttribute("aria-hidden", "true"); // not read out with every caption
    item.append(" ", latency);
  }
  $("finals").append(item);
  item.scrollIntoView({ block: "nearest" });
  refreshEmpty();
}

function refreshEmpty() {
  $("empty").hidden = transcript.finals.length > 0 || !$("partial").hidden;
}

const seconds = (sample) => offset + sample / SAMPLE_RATE;

const sessionEvents = {
  onStatus: status,
  onStarted(id, sample) { transcript.started(id, seconds(sample)); },
  onDelta(id, delta) { transcript.delta(id, delta); showPartial(); },
  onSegment(id, { start, end, text, speaker }) {
    transcript.segment(id, { start: seconds(start), end: seconds(end), text, speaker });
  },
  onStopped(id, sample) {
    transcript.stopped(id, seconds(sample));
    const capturedAt = microphone?.capturedAt(sample);
    if (capturedAt != null) speechEnds.set(id, capturedAt);
  },
  onCompleted(id, text) {
    const end = speechEnds.get(id);
    speechEnds.delete(id);
    for (const final of transcript.completed(id, text, end === undefined ? null : (performance.now() - end) / 1000)) {
      showFinal(final);
    }
    showPartial();
  },
  onNotice(message) { alertUser(message); },
  async onFatal(message, kind) {
    await stop({ failed: true }); // first: the settings are unlocked, the key field can take the focus
    alertUser(message, kind === "key" ? $("key") : null);
  },
};

// ---- start and stop ---------------------------------------------------------------------
async function start() {
  alertUser("");
  running(true);
  status("connecting", "Opening the microphone…");
  microphone = new Microphone((chunk) => session?.push(chunk));
  try {
    await microphone.start();
  } catch (error) {
    microphone = null;
    running(false, true);
    status("idle", "Not listening.");
    alertUser(error instanceof MicrophoneError ? error.message : `The microphone failed: ${error}`);
    return;
  }
  session = new RealtimeSession(() => settings.current(), sessionEvents);
  session.start();
}

async function stop({ failed = false } = {}) {
  const [mic, current] = [microphone, session];
  microphone = session = null;
  if (!mic && !current) return;
  const refocus = document.activeElement === $("stop");
  $("stop").disabled = true;
  if (!failed) status("stopping", "Finishing the last phrase…");
  if (mic) {
    offset += (mic.clock.at(-1)?.lastSample ?? 0) / SAMPLE_RATE;
    await mic.stop();
  }
  await current?.stop();
  running(false, refocus);
  status(failed ? "error" : "idle", failed ? "Stopped." : "Stopped. Press Start to go on.");
}

// ---- transcript actions -------------------------------------------------------------------
async function copy() {
  const text = transcript.text();
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = Object.assign(document.createElement("textarea"), { value: text });
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  status($("status").dataset.kind, "Transcript copied.");
}

function download(kind) {
  const body = { txt: () => transcript.txt(), srt: () => transcript.srt(), vtt: () => transcript.vtt() }[kind]();
  const type = kind === "vtt" ? "text/vtt" : "text/plain";
  const url = URL.createObjectURL(new Blob([body], { type: `${type};charset=utf-8` }));
  const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, "").replace("T", "-");
  const link = Object.assign(document.createElement("a"), { href: url, download: `captions-${stamp}.${kind}` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function clear() {
  transcript.clear();
  speakers.clear();
  speechEnds.clear();
  offset = 0;
  $("finals").replaceChildren();
  showPartial();
}

// ---- a file -------------------------------------------------------------------------------
let upload = null;

async function transcribe(file) {
  upload?.abort();
  const controller = upload = new AbortController();
  const shown = $("file-text");
  const current = settings.current();
  shown.replaceChildren();
  $("file-status").textContent = `Transcribing ${file.name}…`;
  const onSegment = ({ text, speaker }) => { // with speakers: a line per speaker's run, in place of the deltas
    const line = document.createElement("p");
    line.className = "file-line";
    line.append(speakers.badge(line, speaker), " ", text.trim());
    shown.append(line);
  };
  try {
    const text = await transcribeFile(file, current, {
      onDelta: (delta) => { if (!current.speakers) shown.textContent += delta; }, onSegment,
    }, controller.signal);
    if (!current.speakers) shown.textContent = text;
    $("file-status").textContent = `${file.name}: done.`;
  } catch (error) {
    if (error.name !== "AbortError") $("file-status").textContent = `${file.name}: ${error.message}`;
  }
}

function dropZone() {
  const zone = $("dropzone");
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) transcribe(file);
  });
  $("file").addEventListener("change", () => {
    const file = $("file").files[0];
    if (file) transcribe(file);
  });
}

// ---- wiring -------------------------------------------------------------------------------
$("start").addEventListener("click", start);
$("stop").addEventListener("click", () => stop());
$("copy").addEventListener("click", copy);
for (const kind of ["txt", "srt", "vtt"]) $(`download-${kind}`).addEventListener("click", () => download(kind));
$("clear").addEventListener("click", clear);
dropZone();
settings.loadModels().then((code) => {
  if (code === 401) alertUser("This server needs an API key: enter it under Settings.", null);
});
document.documentElement.dataset.ready = "true"; // for tests and scripts: the page is wired
