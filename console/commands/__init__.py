"""One module per feature's commands; each exposes ``register(app)``."""
