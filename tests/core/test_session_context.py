"""Each utterance's decode is conditioned on the session's recent final text (issue 11, point 1;
README "API", `condition_on_previous_text`): the finals so far, in order, bounded, started
afresh when the language changes, none when the session turns it off; in Whisper's prompt
after the client's hotwords and prompt, bounded in tokens, the most recent kept."""
from __future__ import annotations

import numpy as np

from core_service.engines.whisper_decoder import MAX_PREVIOUS_TOKENS, DecodeRequest, WhisperDecoder
from core_service.models import tiny_en_path
from core_service.segmenter.redecode_parts import SessionContext
from tests.core.segmenter_fakes import SPEECH, ClipDecoder, finals, frames, run

TWO_UTTERANCES = frames((0.0, 20), (SPEECH, 30), (0.0, 40), (SPEECH, 20), (0.0, 40), (SPEECH, 10), (0.0, 40))


async def test_each_final_is_decoded_with_the_finals_before_it_as_context():
    decoder = ClipDecoder()
    events = await run(TWO_UTTERANCES, decoder, interim_results=False)
    assert [text for *_, text in finals(events)] == ["w30", "w20", "w10"]
    assert decoder.final_prompts == ["", "w30", "w30 w20"]


async def test_condition_on_previous_text_false_decodes_every_final_without_context():
    decoder = ClipDecoder()
    await run(TWO_UTTERANCES, decoder, interim_results=False, condition_on_previous_text=False)
    assert decoder.final_prompts == ["", "", ""]


def test_the_context_keeps_the_most_recent_finals_within_its_bound():
    context = SessionContext(enabled=True)
    for i in range(100):
        context.remember(f"Sentence number {i}.", "en")
    assert len(context.previous()) <= SessionContext.MAX_CHARS
    assert context.previous().endswith("Sentence number 98. Sentence number 99.")


def test_a_change_of_language_starts_the_context_afresh():
    context = SessionContext(enabled=True)
    context.remember("Good morning, everyone.", "en")
    context.remember("Buenos días a todos.", "es")
    assert context.key() == ("Buenos días a todos.", "es")


def test_whispers_prompt_is_hotwords_then_the_clients_prompt_then_the_most_recent_finals():
    decoder = WhisperDecoder(str(tiny_en_path()))
    tok = decoder.tokenizer("en", "transcribe")
    finals_so_far = " ".join(f"word{i}" for i in range(400))
    prompt = WhisperDecoder.prompt(tok, DecodeRequest(np.zeros(16000, np.float32), hotwords="Siobhan Quigley",
                                                      prompt="Weekly infra sync", previous=finals_so_far))
    start = list(tok.sot_sequence)
    assert prompt[0] == tok.sot_prev and prompt[-len(start):] == start
    context = tok.decode(prompt[1:-len(start)])
    assert context.startswith(" Siobhan Quigley Weekly infra sync") and context.endswith("word399")
    previous = prompt[1:-len(start)][len(tok.encode(" Siobhan Quigley")) + len(tok.encode(" Weekly infra sync")):]
    assert len(previous) == MAX_PREVIOUS_TOKENS
