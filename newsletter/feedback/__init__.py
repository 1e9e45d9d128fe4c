"""Stage 3, feedback: what receivers say back (bounces, complaints, unsubscribes), and what it adds up to.

Each source (SendGrid webhook, DSN/ARF mailbox, SMTP replies at send time, one-click posts) is
normalised at the edge into one ``FeedbackEvent``; ``apply`` is the one policy that turns events into
subscriber states; ``stats`` reads the ledger and feedback back as figures. May import delivery (the
ledger, links, send results) and ``subscribers``; never readers, review, the web or the CLI.
"""
