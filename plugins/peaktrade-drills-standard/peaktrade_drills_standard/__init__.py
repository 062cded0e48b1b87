"""peaktrade standard drill pack: drills A–G and the gate matrix (entry point ``drills-standard``)."""
