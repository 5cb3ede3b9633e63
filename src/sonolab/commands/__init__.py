"""Command-line verb groups; each module exposes `register(app)`."""
