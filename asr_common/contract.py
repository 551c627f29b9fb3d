"""The wire contract's numbers: what the core accepts in a `StreamingConfig` (docs/limits.md).

The core validates requests against these (core_service/convert.py, engines/whisper.py); a bridge
that fills a `StreamingConfig` from its dialect's fields checks or cuts them to the same bounds,
so its client hears about a bad value in its own protocol's words instead of a core error.
"""
from __future__ import annotations

import re

# StreamingConfig.session_id: chosen by the client, or by the server when empty.
SESSION_ID_MAX = 128
SESSION_ID_CHARS = "A-Za-z0-9._:@-"  # a regular-expression character class
SESSION_ID = re.compile(rf"^[{SESSION_ID_CHARS}]{{1,{SESSION_ID_MAX}}}\Z")  # whole string: match() suffices
SESSION_ID_RULE = f"1-{SESSION_ID_MAX} characters from A-Z a-z 0-9 . _ - : @"

# StreamingConfig.prompt and .hotwords (engines that use them say so in their Capabilities).
MAX_PROMPT_CHARS = 1000
MAX_HOTWORDS = 100
MAX_HOTWORD_CHARS = 100

# StreamingConfig.beam_size and .partial_beam_size: 0 is the engine's default.
MAX_BEAM_SIZE = 10

# Audio.
DEFAULT_SAMPLE_RATE_HERTZ = 16000
MIN_SAMPLE_RATE_HERTZ = 8000
MAX_SAMPLE_RATE_HERTZ = 48000
MAX_AUDIO_CHANNELS = 8
TELEPHONY_SAMPLE_RATE_HERTZ = 8000  # the default of G.711 (MULAW, ALAW)

# Durations, in seconds (inclusive bounds; 0 or unset is the server's default).
MIN_SILENCE_SECONDS = (0.05, 10.0)  # VadConfig.min_silence_duration
PARTIAL_INTERVAL_SECONDS = (0.1, 10.0)  # StreamingConfig.partial_interval
