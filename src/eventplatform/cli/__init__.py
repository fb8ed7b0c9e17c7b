"""The `eventplatform` (alias `evp`) command line."""
