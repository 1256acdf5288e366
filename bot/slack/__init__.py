"""The Slack front end: a slack-bolt app whose listeners live in one module per feature.

``app`` builds the bolt app and the platform, ``sender`` delivers outbox effects, and
``manifest`` describes the Slack app (it imports no Slack library, for the CLI).
"""
