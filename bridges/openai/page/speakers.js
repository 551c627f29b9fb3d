// Speaker labels as the page shows them: the server's label ("A", "B", … in the order people are
// first heard; "unknown") as text in a badge, and a colour (style.css `[data-colour]`, six of
// them, by the order the page first shows each speaker) on the badge and the line's edge — never
// colour alone.

const COLOURS = 6;

export class SpeakerColours {
  constructor() {
    this.order = new Map(); // label -> the order it was first shown in
  }

  // Marks `line` as `label`'s and returns its badge, to be put at the start of the line's text.
  badge(line, label) {
    line.dataset.speaker = label;
    if (label !== "unknown") {
      if (!this.order.has(label)) this.order.set(label, this.order.size);
      line.dataset.colour = String(this.order.get(label) % COLOURS);
    }
    const badge = document.createElement("span");
    badge.className = "speaker";
    const spoken = document.createElement("span");
    spoken.className = "visually-hidden";
    spoken.textContent = "Speaker ";
    badge.append(spoken, label);
    return badge;
  }

  clear() {
    this.order.clear();
  }
}
