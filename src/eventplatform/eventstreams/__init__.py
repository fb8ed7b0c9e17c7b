"""EventStreams: live streams of the log over server-sent events (``/v2/stream/{streams}``), and the
web console (``/v2/ui``, ``/v2/catalog``). Mounted by ``serve``; ``eventplatform eventstreams`` serves it
alone."""
