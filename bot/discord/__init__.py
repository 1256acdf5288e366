"""The Discord front end: the discord.py bot (``bot.discord.bot``) and the outbox sender.

Nothing is imported here, so ``bot.discord.sender`` and ``bot.discord.commands_json`` can be
used without building a bot.
"""
