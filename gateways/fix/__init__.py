"""FIX 4.4 (and 4.2) over quickfix: session settings, message codec, the order gateway."""
