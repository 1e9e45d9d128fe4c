"""What readers do themselves: sign up and confirm (double opt-in), leave, and ask for their data.

Holds the double opt-in flow (``signup``), the one-off confirmation and welcome emails
(``transactional``) and the privacy functions (``privacy``: export, erase). May import delivery (these
emails travel the same transports), feedback's records and ``subscribers``; never the web or the CLI,
which call it.
"""
