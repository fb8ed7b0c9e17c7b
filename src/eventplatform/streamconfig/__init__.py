"""Stream configuration: which streams exist, their schema title, sampling, topics and destinations."""
