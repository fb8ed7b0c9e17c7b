"""Privacy and operations: retention (purge), allowlist sanitization, canary events, replay of failed
events. Each module is one job; ``cli`` holds their commands."""
