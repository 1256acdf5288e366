"""Flywheel: a self-hosted community bot for Discord and Slack."""

__version__ = "0.1.0"
