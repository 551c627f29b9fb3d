// The settings panel: model and language pickers (GET /v1/models), the prompt with its
// hotwords, speaker labels, and the API key (sessionStorage, or localStorage when the user ticks
// the box).

const STORED_KEY = "asr-gateway.api-key";
const DEFAULT_MODEL = "whisper-1"; // the server's default engine and model (docs/openai.md)
const MAX_PROMPT = 1000; // the bridge's limit
// "auto" and the languages a multilingual Whisper model knows best; the tag goes to the server as is.
const LANGUAGES = ["en", "de", "fr", "es", "it", "pt", "nl", "pl", "sv", "da", "fi", "no", "cs", "ro", "hu", "el",
  "tr", "ru", "uk", "ar", "he", "hi", "ja", "ko", "zh", "vi", "th", "id"];

export class Settings {
  constructor(elements) {
    this.el = elements; // {model, language, prompt, hotwords, speakers, key, remember}
    this.restoreKey();
    this.fillLanguages();
    this.el.key.addEventListener("change", () => { this.storeKey(); this.loadModels(); });
    this.el.remember.addEventListener("change", () => this.storeKey());
  }

  current() {
    return {
      model: this.el.model.value || DEFAULT_MODEL,
      language: this.el.language.value,
      prompt: this.prompt(),
      speakers: this.el.speakers.checked,
      key: this.el.key.value.trim(),
    };
  }

  // While listening the session's settings are fixed: the fields say so by being disabled.
  lock(locked) {
    for (const name of ["model", "language", "prompt", "hotwords", "speakers", "key", "remember"]) this.el[name].disabled = locked;
  }

  // The prompt field, then the hotwords as a glossary (Whisper spells what its prompt spells).
  prompt() {
    const words = this.el.hotwords.value.split(",").map((w) => w.trim()).filter(Boolean);
    const glossary = words.length ? `Glossary: ${words.join(", ")}.` : "";
    return [this.el.prompt.value.trim(), glossary].filter(Boolean).join(" ").slice(0, MAX_PROMPT);
  }

  restoreKey() {
    const remembered = localStorage.getItem(STORED_KEY);
    this.el.key.value = remembered ?? sessionStorage.getItem(STORED_KEY) ?? "";
    this.el.remember.checked = remembered !== null;
  }

  storeKey() {
    localStorage.removeItem(STORED_KEY);
    sessionStorage.removeItem(STORED_KEY);
    const key = this.el.key.value.trim();
    if (key) (this.el.remember.checked ? localStorage : sessionStorage).setItem(STORED_KEY, key);
  }

  fillLanguages() {
    const names = typeof Intl.DisplayNames === "function" ? new Intl.DisplayNames([navigator.language, "en"], { type: "language" }) : null;
    const options = [new Option("Detect automatically", "")];
    for (const code of LANGUAGES) options.push(new Option(`${names?.of(code) ?? code} (${code})`, code));
    this.el.language.replaceChildren(...options);
  }

  // The models the server lists: its default first, then each ENGINE/MODEL. Returns the HTTP
  // status (0 when the server cannot be reached); the default stays selectable on any failure.
  async loadModels() {
    const { key } = this.current();
    let response;
    try {
      response = await fetch("/v1/models", { headers: key ? { Authorization: `Bearer ${key}` } : {} });
    } catch {
      return 0;
    }
    if (!response.ok) return response.status;
    const { data } = await response.json();
    const chosen = this.el.model.value;
    const options = [new Option("Server default", DEFAULT_MODEL)];
    for (const { id } of data.filter((m) => m.id.includes("/")).sort((a, b) => a.id.localeCompare(b.id))) {
      options.push(new Option(id, id));
    }
    this.el.model.replaceChildren(...options);
    this.el.model.value = options.some((o) => o.value === chosen) ? chosen : DEFAULT_MODEL;
    return response.status;
  }
}
