"""Stage 2, delivery: from a rendered edition to a message in every confirmed reader's mailbox.

Holds the signed links and VERP addresses (``links``), headers and the per-recipient record
(``message``), slot filling (``personalise``), DKIM (``dkim``), the prepared edition (``prepare``), the
delivery ledger (``ledger``, with its hot SQL in ``driver_statement``), flow control (``flow``), the
send loop (``send_loop``), one send over several processes (``parallel``) and the ``transports``.
May import ``newsletter.edition``, the top-level ``config``/``errors``/``database`` and ``subscribers``;
never feedback, readers, review, the web or the CLI.
"""
