// The microphone: getUserMedia, an AudioWorklet that makes 24 kHz PCM16 chunks
// (capture-worklet.js), and the wall-clock time at which each chunk was captured.

export const SAMPLE_RATE = 24000;
const CLOCK_SECONDS = 120; // how far back a sample's capture time can be looked up

export class MicrophoneError extends Error {
  constructor(message, kind) {
    super(message);
    this.kind = kind; // "denied" | "missing" | "unsupported" | "failed"
  }
}

export class Microphone {
  constructor(onChunk) {
    this.onChunk = onChunk; // ({pcm: ArrayBuffer, firstSample, capturedAt}) per 100 ms
    this.stream = null;
    this.context = null;
    this.source = null;
    this.node = null;
    this.clock = []; // [{firstSample, lastSample, capturedAt}], oldest first, bounded
  }

  async start() {
    if (!navigator.mediaDevices?.getUserMedia || typeof AudioWorkletNode === "undefined") {
      throw new MicrophoneError("This browser cannot capture audio here: use a current Chrome, Edge, Firefox " +
        "or Safari, over https or on localhost.", "unsupported");
    }
    try {
      // The recognizer wants the voice as spoken: the browser's gain control and noise
      // suppression change it (a headset avoids echo from the speakers).
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
    } catch (error) {
      throw microphoneError(error);
    }
    this.context = new AudioContext();
    await this.context.audioWorklet.addModule(new URL("./capture-worklet.js", import.meta.url));
    // Both nodes are kept and the worklet is connected to the output (it writes silence), so the
    // browser neither collects the source nor stops pulling the worklet.
    this.source = this.context.createMediaStreamSource(this.stream);
    this.node = new AudioWorkletNode(this.context, "capture-24k");
    this.node.port.onmessage = ({ data }) => this.received(data);
    this.source.connect(this.node).connect(this.context.destination);
    await this.context.resume();
  }

  received({ pcm, firstSample }) {
    const capturedAt = performance.now(); // the chunk's last sample was just captured
    const lastSample = firstSample + pcm.byteLength / 2;
    this.clock.push({ firstSample, lastSample, capturedAt });
    while (this.clock.length > (CLOCK_SECONDS * SAMPLE_RATE) / (pcm.byteLength / 2)) this.clock.shift();
    this.onChunk({ pcm, firstSample, capturedAt });
  }

  // performance.now() when `sample` (index at 24 kHz since start) was captured; null if unknown.
  capturedAt(sample) {
    const entry = this.clock.find((c) => sample >= c.firstSample && sample <= c.lastSample) ?? this.clock.at(-1);
    if (!entry || sample > entry.lastSample + SAMPLE_RATE) return null;
    return entry.capturedAt - ((entry.lastSample - sample) * 1000) / SAMPLE_RATE;
  }

  async stop() {
    this.stream?.getTracks().forEach((track) => track.stop());
    this.node?.port.close();
    await this.context?.close();
    this.stream = this.context = this.source = this.node = null;
  }
}

function microphoneError(error) {
  if (error?.name === "NotAllowedError" || error?.name === "SecurityError") {
    return new MicrophoneError("Microphone access was denied. Allow it in the browser's site settings " +
      "(the icon left of the address) and press Start again.", "denied");
  }
  if (error?.name === "NotFoundError" || error?.name === "OverconstrainedError") {
    return new MicrophoneError("No microphone was found. Connect one and press Start again.", "missing");
  }
  return new MicrophoneError(`The microphone could not be opened (${error?.message ?? error}).`, "failed");
}
