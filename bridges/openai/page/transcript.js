// The transcript: finals with their times (seconds from the session's start), latency and, when
// speakers are labelled, speaker; the partial text of the utterances still open; and its exports
// (txt, srt, vtt) made here.

export class Transcript {
  constructor() {
    this.finals = []; // {start, end, text, latency, speaker} in seconds, in the order they completed
    this.open = new Map(); // item id -> {start, end, text, segments}
  }

  started(id, start) {
    this.item(id).start = start;
  }

  delta(id, text) {
    this.item(id).text += text;
  }

  stopped(id, end) {
    this.item(id).end = end;
  }

  // A run of one speaker's words of the item ({start, end, text, speaker}; times in seconds).
  segment(id, segment) {
    this.item(id).segments.push(segment);
  }

  // The item's final (`text` null: the connection ended before it; its partial text stands): one
  // entry, or one per speaker segment when it has them (the latency goes with the last).
  completed(id, text, latency) {
    const item = this.open.get(id);
    this.open.delete(id);
    const final = (text ?? item?.text ?? "").trim();
    if (!final) return [];
    const start = item?.start ?? this.finals.at(-1)?.end ?? 0;
    const end = Math.max(item?.end ?? start, start);
    const segments = text !== null && item?.segments.length ? item.segments
      : [{ start, end, text: final, speaker: item?.segments.at(-1)?.speaker ?? null }];
    const entries = segments.map((s) => ({ start: s.start, end: Math.max(s.end, s.start), text: s.text.trim(),
      speaker: s.speaker, latency: null }));
    entries.at(-1).latency = text === null ? null : latency;
    this.finals.push(...entries);
    return entries;
  }

  item(id) {
    if (!this.open.has(id)) this.open.set(id, { start: null, end: null, text: "", segments: [] });
    return this.open.get(id);
  }

  partialText() {
    return [...this.open.values()].map((item) => item.text.trim()).filter(Boolean).join(" ");
  }

  clear() {
    this.finals = [];
    this.open.clear();
  }

  text() {
    return this.finals.map((f) => labelled(f, `${f.speaker}: `)).join("\n");
  }

  txt() {
    return this.finals.map((f) => `[${clock(f.start)}] ${labelled(f, `${f.speaker}: `)}`).join("\n") + "\n";
  }

  srt() {
    return this.cues().map((c, i) => `${i + 1}\n${stamp(c.start, ",")} --> ${stamp(c.end, ",")}\n${labelled(c, `${c.speaker}: `)}\n`)
      .join("\n");
  }

  vtt() {
    return "WEBVTT\n\n" + this.cues().map((c) => `${stamp(c.start, ".")} --> ${stamp(c.end, ".")}\n${labelled(c, `<v ${c.speaker}>`)}\n`)
      .join("\n");
  }

  // Cues in time order, each at least 0.5 s long and ending before the next begins.
  cues() {
    const sorted = [...this.finals].sort((a, b) => a.start - b.start);
    return sorted.map((f, i) => {
      const next = sorted[i + 1]?.start ?? Infinity;
      return { start: f.start, end: Math.min(Math.max(f.end, f.start + 0.5), Math.max(next, f.start)), text: f.text,
        speaker: f.speaker };
    });
  }
}

// The text with its speaker's prefix when it has one.
function labelled(final, prefix) {
  return final.speaker ? prefix + final.text : final.text;
}

// mm:ss (h:mm:ss past an hour), as shown beside each final.
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const [h, m, r] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const mmss = `${String(m).padStart(2, "0")}:${String(r).padStart(2, "0")}`;
  return h ? `${h}:${mmss}` : mmss;
}

// hh:mm:ss,mmm (SubRip) or hh:mm:ss.mmm (WebVTT).
export function stamp(seconds, separator) {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const parts = [Math.floor(ms / 3600000), Math.floor((ms % 3600000) / 60000), Math.floor((ms % 60000) / 1000)];
  return parts.map((n) => String(n).padStart(2, "0")).join(":") + separator + String(ms % 1000).padStart(3, "0");
}
