"""Newsletter production and delivery: digest -> edition -> personalised messages -> transport -> ledger."""

__version__ = "0.1.0"
