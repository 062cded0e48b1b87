"""peaktrade alert sinks ``webhook`` (generic JSON POST) and ``slack`` (incoming webhook)."""
