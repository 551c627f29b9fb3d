"""Segmenting a session's audio into utterances: one segmenter, two decoding strategies.

- `segmenter.py`: what every local engine shares: the session's audio history, Silero VAD
  (off the event loop), the endpointer (`endpointer.py`), the speech probabilities heard so far
  (`speech_history.py`), utterance ids and times.
- `redecode.py`: for engines that only transcribe whole clips (Whisper): partial re-decodes of
  the open utterance, a speculative final at each pause, early ends at sentence ends
  (`sentence_end.py`), over-long utterances cut at their longest pause; each closed
  utterance's one final, decoded and emitted in order (`finals.py`).
- `native_incremental.py`: for engines with their own streaming decoder (FunASR, SpeechBrain):
  the decoder is fed chunk by chunk and flushed at the end of each utterance.
"""
