"""One module per transport behind bridges/transport.py (websocket today)."""
