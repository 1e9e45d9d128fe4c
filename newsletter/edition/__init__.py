"""Stage 1, the edition: the week's digest as validated data, rendered once, stored.

Holds the digest model and loaders (``digest``), rendering to HTML and text (``render``) and the stored
edition with its status (``stored``). May import ``newsletter.config``, ``newsletter.errors`` and
``subscribers`` (for the shared declarative base); knows nothing of delivery, feedback, the web or the CLI.
"""
