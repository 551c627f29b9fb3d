"""What a client may see of a server's failure: error ids, and text without paths or addresses.

One scrubber for the core and the bridges (docs/limits.md). A message for a client never carries a
server's file layout: every absolute path, POSIX or Windows (`/opt/models/x`, `=/srv/key.json`,
`'/tmp/a'`, `unix:/run/asr.sock`, `C:\\models\\x`, `D:/x`, `\\\\host\\share`), becomes `<server path>`; URLs
(`https://host/a/b`), relative names (`Systran/faster-whisper-tiny.en`) and words with a slash
(`GCE/GKE`) stay. A bridge relaying text that is not its own (gRPC's words for an unreachable core
name the core's address) also replaces network addresses: `scrub`. An internal problem is
described by a short error id (`new_error_id`) that the server's log line repeats with the details.
"""
from __future__ import annotations

import re
import secrets

# An absolute path at the start of a word; not inside a URL ("//" follows the scheme) or a name.
_PATH = re.compile(r"(?<![\w./\\])(?:[A-Za-z]:[\\/]|\\\\|[/\\])(?:[^\s/\\'\"]+[/\\])*[^\s/\\'\",;:)]+")
_ADDRESS = re.compile(r"(?:ipv[46]:|dns:///?)?(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:]+\]|localhost"
                      r"|[A-Za-z][\w-]*(?:\.[\w-]+)+):\d{1,5}\b")
PATH_PLACEHOLDER = "<server path>"
ADDRESS_PLACEHOLDER = "<address>"


def new_error_id() -> str:
    """A short id that ties a client's error message to the server log line with the details."""
    return secrets.token_hex(4)


def redact_paths(text: str) -> str:
    """`text` with every absolute file path replaced by `<server path>`. A safety net under
    messages that name a setting instead of a directory."""
    return _PATH.sub(PATH_PLACEHOLDER, text)


def scrub(text: str) -> str:
    """`text` without file paths or network addresses: for relaying words that are not our own."""
    return _ADDRESS.sub(ADDRESS_PLACEHOLDER, redact_paths(text))
