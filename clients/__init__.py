"""Python client for the asr.v1 RecognizerService: an asyncio SDK, audio file reading, a CLI."""
from .audio import AudioFileError, read_chunks, write_audio
from .errors import FieldViolation, RecognizerError, ServerUnreachable
from .sdk import Recognizer, RecognizerClient, Transcript, default_address
from .waiting import DEFAULT_WAIT, NO_WAIT, WaitPolicy
from .types import (
    EngineInfo,
    EngineList,
    Finalize,
    Result,
    SessionStarted,
    SettingsUpdated,
    SpeechEvent,
    StreamConfig,
    Summary,
    UpdateSettings,
    Word,
)

__all__ = [
    "DEFAULT_WAIT", "NO_WAIT", "WaitPolicy", "AudioFileError", "EngineInfo", "EngineList", "FieldViolation", "Finalize", "Recognizer",
    "RecognizerClient", "RecognizerError", "Result", "ServerUnreachable", "SessionStarted",
    "SettingsUpdated", "SpeechEvent", "StreamConfig", "Summary", "Transcript", "UpdateSettings",
    "Word", "default_address", "read_chunks", "write_audio",
]
