"""peaktrade alert sink ``email``: SMTP with STARTTLS or implicit TLS."""
