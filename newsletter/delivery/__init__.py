"""Stage 2, delivery: from a rendered edition to a message in every confirmed reader's mailbox.

Holds the signed links and VERP addresses (``links``), headers and the per-recipient record
(``message``), slot filling (``personalise``), DKIM (``dkim``), the prepared edition (``prepare``), the
delivery ledger (``ledger``, with its hot SQL in ``driver_statement``), flow control (``flow``), the
send loop (``send_loop``) and the ``transports``. May import ``newsletter.edition``, the top-level
``config`` and ``errors``, and ``subscribers``; never feedback, dispatch, readers, review, the web or the
CLI (``dispatch`` wires a send together from above).
"""
