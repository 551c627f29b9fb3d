"""The client host of tests/deploy/test_multihost.py, run inside its network namespace.

`python -m tests.deploy.multihost_client URL CORE_PID` streams two long sessions at the speed of
speech through the bridge, kills the core process CORE_PID (another host; the PID namespace is
shared) while they run, then starts four short sessions one after another right away. It prints
one JSON object: what each session got, and the times relative to the kill.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

import numpy as np

from tests.audio_fixtures import PARAGRAPH, UTTERANCES, silence, speech
from tests.balancing_helpers import paced_nexa_session

KILL_AFTER_SECONDS = 3.0


async def main(url: str, core_pid: int) -> dict:
    long_audio = np.concatenate([silence(0.3), speech(PARAGRAPH), silence(0.5)])
    short_audio = np.concatenate([silence(0.3), speech(UTTERANCES[0]), silence(0.5)])
    live = [asyncio.create_task(paced_nexa_session(url, long_audio)) for _ in range(2)]
    await asyncio.sleep(KILL_AFTER_SECONDS)
    os.kill(core_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    later = []
    for _ in range(4):
        started = time.monotonic() - killed_at
        session = await paced_nexa_session(url, short_audio)
        first = session.first_message_at - killed_at if session.first_message_at else None
        later.append({"started": started, "first_message": first, "messages": session.messages})
    ongoing = await asyncio.gather(*live)
    return {
        "ongoing": [{"messages": s.messages, "error_after": s.error_at - killed_at if s.error_at else None,
                     "closed_after": s.closed_at - killed_at if s.closed_at else None} for s in ongoing],
        "later": later,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2])))))
