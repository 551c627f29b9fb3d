// A file's transcript streamed in: POST /v1/audio/transcriptions (multipart, the fields before
// the file, `stream=true`) read as server-sent events: `transcript.text.delta` per final segment
// (with speakers, `response_format=diarized_json`: then its `transcript.text.segment` events, one
// per speaker's run), then `transcript.text.done`, or an `error` event (docs/openai.md).

export class UploadError extends Error {}

export async function transcribeFile(file, { model, language, prompt, key, speakers }, { onDelta, onSegment },
  signal) {
  const form = new FormData();
  form.append("model", model);
  if (language) form.append("language", language);
  if (prompt) form.append("prompt", prompt);
  if (speakers) form.append("response_format", "diarized_json");
  form.append("stream", "true");
  form.append("file", file, file.name); // last: the server opens its stream when the file begins
  const response = await fetch("/v1/audio/transcriptions", {
    method: "POST", body: form, signal, headers: key ? { Authorization: `Bearer ${key}` } : {},
  });
  if (!response.ok) throw new UploadError(await refusal(response, file));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new UploadError("The server ended the stream before the transcript was done. Try again.");
    buffered += value;
    let end;
    while ((end = buffered.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffered.slice(0, end));
      buffered = buffered.slice(end + 2);
      if (!event) continue;
      if (event.type === "transcript.text.delta") onDelta(event.delta);
      else if (event.type === "transcript.text.segment") onSegment(event);
      else if (event.type === "transcript.text.done") return event.text;
      else if (event.type === "error") throw new UploadError(event.error?.message ?? "The transcription failed.");
    }
  }
}

function parseEvent(block) {
  const data = block.split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trimStart());
  return data.length ? JSON.parse(data.join("\n")) : null;
}

async function refusal(response, file) {
  if (response.status === 401) return "The API key was refused. Check it under Settings and try again.";
  if (response.status === 413) return `${file.name} is too large: the limit is 25 MB.`;
  if (response.status === 503) {
    const seconds = response.headers.get("Retry-After") || "a few";
    return `The server is busy. Try again in ${seconds} s.`;
  }
  const text = await response.text();
  try {
    return JSON.parse(text).error.message;
  } catch {
    return text.trim() || `The server answered ${response.status}.`;
  }
}
