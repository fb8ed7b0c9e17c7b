"""The intake service (an EventGate-compatible HTTP API)."""
