"""A WebSocket on the HTTP transport's port (Starlette's `WebSocket` on uvicorn), behaving as
the WebSocket transport does (bridges/transports/websocket.py): text and binary frames in and
out, the ending's close code (bridges/endings.py `ws_close_code`), a size backstop above the
dialect's message limit (uvicorn's `ws_max_size` = `Limits.backstop_bytes`: larger frames are
closed with 1009 by the server itself) and a bounded receive queue (uvicorn's websockets-sansio
protocol stops reading the socket until each received frame is taken)."""
from __future__ import annotations

from typing import Callable

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from bridges.endings import WS_CLIENT_FAULT_CODES, Ending, ws_close_code
from bridges.transport import ClientGone, Outgoing, Received, TransportClosed, Upgrade, as_text_or_bytes

CLOSE_REASON_BYTES = 120  # a close frame's reason fits in 123 bytes


class StarletteWebSocketTransport:
    """One accepted WebSocket on the HTTP port (bridges.transport.Transport)."""

    def __init__(self, websocket: WebSocket, upgrade: Upgrade, abort: Callable[[], None]) -> None:
        self.websocket = websocket
        self.upgrade = upgrade
        self._abort = abort
        self._gone: ClientGone | None = None
        self._close_code: int | None = None

    async def receive(self) -> Received | ClientGone:
        if self._gone is not None:
            return self._gone
        try:
            message = await self.websocket.receive()
        except (RuntimeError, OSError):  # closed by our side meanwhile
            return self._gone_with("closed", None)
        if message["type"] == "websocket.disconnect":
            return self._gone_with(f"client closed ({message.get('code')})", message.get("code"))
        text = message.get("text")
        return Received(text if text is not None else message.get("bytes") or b"")

    def _gone_with(self, reason: str, code: int | None) -> ClientGone:
        self._close_code = self._close_code or code
        self._gone = ClientGone(reason, lost=code not in (1000, 1001))
        return self._gone

    async def send(self, outgoing: Outgoing) -> int:
        data = as_text_or_bytes(outgoing)
        try:
            if isinstance(data, str):
                await self.websocket.send_text(data)
                return len(data.encode())
            await self.websocket.send_bytes(data)
            return len(data)
        except (WebSocketDisconnect, RuntimeError, OSError):
            raise TransportClosed from None

    async def close(self, ending: Ending) -> None:
        if self.websocket.application_state is WebSocketState.DISCONNECTED:
            return
        self._close_code = ws_close_code(ending)
        reason = ending.reason.encode()[:CLOSE_REASON_BYTES].decode(errors="ignore")
        try:
            await self.websocket.close(self._close_code, reason)
        except (RuntimeError, OSError):
            pass

    def abort(self) -> None:
        self._abort()

    def layer_refusal(self) -> str | None:
        """The server closed on a frame itself (1009 over the backstop, 1007 invalid UTF-8)."""
        if self._close_code in WS_CLIENT_FAULT_CODES and self._gone is not None and self._gone.reason.endswith(
                f"({self._close_code})"):
            return f"{self._close_code} refused by the server"
        return None
