"""The desktop app (PyQt6): live preview, query builder, latent-channel grid, effects, export (extra `gui`)."""
