"""Running a send: the delivery stage wired to the store, the ledger and the feedback policy.

``parallel`` builds a ``Sender`` (store, ledger, transport, and the policy that turns a 5xx at send time
into a bounce) and runs one send in this process or split across ``send_workers`` processes. It sits
above delivery and feedback, because it joins them; the CLI and the web app call it.
"""
