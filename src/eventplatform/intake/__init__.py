"""Intake core: validation pipeline and the builder that wires it from settings (no HTTP here)."""
