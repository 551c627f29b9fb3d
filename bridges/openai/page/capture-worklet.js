// The microphone's audio as 24 kHz PCM16 chunks (the Realtime API's `audio/pcm`), made on the
// audio thread: the input (any rate, any channel count) is mixed to mono, low-pass filtered and
// resampled by windowed-sinc interpolation, then posted every CHUNK_SECONDS as an ArrayBuffer
// with the index of its first sample at 24 kHz (the page maps server times back to capture times).

const OUTPUT_RATE = 24000;
const CHUNK_SECONDS = 0.1;
const HALF_TAPS = 16; // kernel half-width in output samples: the filter's sharpness
const PHASES = 256; // fractional positions tabulated

class Resampler {
  constructor(inputRate, outputRate) {
    this.step = inputRate / outputRate; // input samples per output sample
    this.cutoff = Math.min(1, outputRate / inputRate) * 0.95; // of the input's Nyquist frequency
    this.half = Math.ceil(HALF_TAPS / this.cutoff); // kernel half-width in input samples
    this.taps = 2 * this.half;
    this.table = this.kernel();
    this.history = new Float32Array(0);
    this.position = this.half; // next output's time, in input samples from history[0]
  }

  kernel() {
    const table = new Float32Array((PHASES + 1) * this.taps);
    for (let phase = 0; phase <= PHASES; phase++) {
      const fraction = phase / PHASES;
      for (let k = 0; k < this.taps; k++) {
        const u = k - this.half + 1 - fraction; // distance from the output's time
        const x = Math.PI * this.cutoff * u;
        const sinc = u === 0 ? 1 : Math.sin(x) / x;
        const window = 0.5 + 0.5 * Math.cos((Math.PI * u) / (this.half + 1)); // Hann
        table[phase * this.taps + k] = this.cutoff * sinc * window;
      }
    }
    return table;
  }

  // Appends input samples; returns the output samples now computable.
  push(input) {
    const joined = new Float32Array(this.history.length + input.length);
    joined.set(this.history);
    joined.set(input, this.history.length);
    const out = [];
    while (this.position + this.half < joined.length) {
      const base = Math.floor(this.position);
      const phase = Math.round((this.position - base) * PHASES);
      const row = phase * this.taps;
      let sum = 0;
      for (let k = 0, i = base - this.half + 1; k < this.taps; k++, i++) {
        if (i >= 0) sum += joined[i] * this.table[row + k];
      }
      out.push(sum);
      this.position += this.step;
    }
    const keep = Math.max(0, Math.floor(this.position) - this.half);
    this.history = joined.slice(keep);
    this.position -= keep;
    return out;
  }
}

class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.resampler = new Resampler(sampleRate, OUTPUT_RATE);
    this.size = Math.round(OUTPUT_RATE * CHUNK_SECONDS);
    this.chunk = new Int16Array(this.size);
    this.filled = 0;
    this.sent = 0; // output samples posted so far
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    const mono = new Float32Array(channels[0].length);
    for (const channel of channels) {
      for (let i = 0; i < mono.length; i++) mono[i] += channel[i] / channels.length;
    }
    for (const sample of this.resampler.push(mono)) {
      const clipped = Math.max(-1, Math.min(1, sample));
      this.chunk[this.filled++] = clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff;
      if (this.filled === this.size) this.post();
    }
    return true;
  }

  post() {
    const pcm = this.chunk.buffer; // transferred: this.chunk is detached from here on
    this.port.postMessage({ pcm, firstSample: this.sent }, [pcm]);
    this.sent += this.size;
    this.chunk = new Int16Array(this.size);
    this.filled = 0;
  }
}

registerProcessor("capture-24k", CaptureProcessor);
