"""The web app: signup, confirm, unsubscribe, webhooks (and the archive and desk as they come).

It sits on top, beside the CLI: it may import every stage (edition, delivery, feedback, readers,
review) and ``subscribers``, and nothing imports it but the CLI's ``serve``.
"""
