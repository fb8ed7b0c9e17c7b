"""eventplatform: schema repository, stream config, intake, event log, live streams and data lake."""

__version__ = "0.1.0"
