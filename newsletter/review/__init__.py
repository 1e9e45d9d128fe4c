"""What the editor sees before pressing send: previews of the edition as a reader will get it.

May import the edition and delivery stages (a preview goes through the same MessageTemplate as a real
send); never feedback, the web or the CLI.
"""
