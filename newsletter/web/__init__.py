"""The web app: signup, confirm, unsubscribe, webhooks, archive."""
