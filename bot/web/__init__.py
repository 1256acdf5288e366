"""The aiohttp server: health, metrics, and (as features land) webhooks and pages."""
