"""surfaced: a control-surface daemon with a real-time C mixing core."""

__version__ = "0.1.0"
