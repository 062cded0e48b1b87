"""peaktrade incident drill pack (entry point ``drills-incident``)."""
