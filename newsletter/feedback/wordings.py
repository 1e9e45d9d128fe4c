"""What receivers say, reason by reason: the readable table ``classify`` decides from.

Two tables. ``WORDINGS`` is searched first, top to bottom, in the receiver's reply text (lower-cased,
whitespace collapsed); the first reason with a matching phrase wins, so the order is the priority:
specific wordings (a vendor's code, "DMARC", "over quota") come before general ones ("spam",
"blocked", "policy"), and the recipient's reasons before words like "rejected" that every reply uses.
``STATUS_REASONS`` reads the RFC 3463 enhanced code when the words say nothing we know; ``BASIC_REASONS``
the plain RFC 5321 reply code when that is all there is. ``DECISIVE`` codes win over any wording: their
meaning is exact and receivers' texts around them are boilerplate.

The phrases are the vendors' published wordings (Gmail's "?p=" help links, Microsoft's NDR codes and
``RESOLVER.*`` names, Yahoo's "[TSS04]"-style tags, Apple iCloud, Proofpoint, Mimecast, Amazon SES,
SendGrid, Mailgun) and the stock texts of Postfix, Exim, Sendmail, qmail and Exchange. Each entry is
one reason: to teach the classifier a new wording, add a phrase to the right line.
"""

from __future__ import annotations

import re

WORDINGS: tuple[tuple[str, str], ...] = (
    # -- the recipient's mailbox, and what the time did to it ------------------------------------
    (
        "systemfull",
        r"insufficient system (storage|resources)|mail system (is )?full|disk (is )?full|"
        r"no space left on device|system storage",
    ),
    (
        "mailboxfull",
        r"(mailbox|mail ?folder|inbox) (is |was )?(currently )?full|full mailbox|mailbox full|over ?quota|"
        r"quota (exceeded|full)|exceeded (the |his |her |their )?(storage|quota|mailbox)|"
        r"storage (quota|limit|space)|insufficient (disk )?(space|storage)|mailbox size limit|"
        r"mailbox has exceeded|too many messages in|out of storage|user has (too many|exhausted)|"
        r"overquota(perm|temp)|not enough (disk |storage )?space|\bquota\b|quotaexceeded",
    ),
    (
        "expired",
        r"retry time(out)? (not reached|exceeded)|message (has been )?expired|queue\.expired|"
        r"delivery time expired|could not be delivered (for|within) \d|"
        r"cannot send message for \d+ (day|hour)|undeliverable for \d|"
        r"(message|mail) (was |has been )?(delayed|queued|in the queue) (for |too long|longer)|"
        r"no (further )?retries|after \d+ attempt|not been collected after|maximum delivery attempts|"
        r"delivery failed \d+ attempts|not (be )?delivered within \d|queue period|has been delayed|"
        r"not yet been delivered|delivery attempts will continue|will continue (to attempt|trying)|"
        r"hours on the queue|message will be retried|5\.4\.7|4\.4\.7|retry limit|max(imum)? retr",
    ),
    (
        "exceedlimit",
        r"exceeds? (the )?administrative limit|message length exceeds administrative|"
        r"resolver\.rst\.recipsizelimit",
    ),
    (
        "mesgtoobig",
        r"message (size |file )?(is )?too (big|large)|maximum (incoming )?message size|"
        r"(message|mail) size (exceeds|limit)|exceeded .{0,30}message size limit|size exceeds|"
        r"exceeds (the )?(fixed )?maximum (allowed )?(message )?size|msgsizelimit|"
        r"larger than the (current )?(system )?limit|message too big",
    ),
    (
        "suspend",
        r"account (is |has been )?(temporarily |permanently )?(disabled|suspended|deactivated|inactive|"
        r"closed|frozen|locked|blocked for inactivity|discontinued|expired)|"
        r"mailbox (is |has been )?(temporarily )?(disabled|inactive|suspended|deactivated|frozen|locked)|"
        r"(account|mailbox) that you tried to reach is (disabled|inactive)|disableduser|"
        r"user (account )?(is )?(disabled|suspended|inactive|expired)|"
        r"recipient (is )?(suspended|inactive)|no longer (active|in use)|expirado por falta de uso|"
        r"inactive (user|account|mailbox)|is (disabled|inactive) and not accepting|"
        r"not accepting (mail|messages|e-?mail)(?! from)",
    ),
    (
        "hasmoved",
        r"has been replaced by|(mailbox|user|address|recipient) has moved|no longer (at|with) this|"
        r"user not local; please try|moved to another",
    ),
    (
        "notaccept",
        r"null mx|does not accept (e-?mail|mail)|domain (does not|doesn't) (accept|receive) (e-?)?mail|"
        r"no smtp service here|not accepting (network )?messages for this domain",
    ),
    # -- our authentication and identity: before "blocked", whose words these replies also use ------
    (
        "authfailure",
        r"dmarc|\bspf\b|sender policy framework|dkim (signature|check|validation|verification|fail)|"
        r"(no|invalid|failed) (valid |passing )?dkim|unauthenticated|not authenticated (with|by|as)|"
        r"does not (pass|meet) .{0,40}authentication|"
        r"authentication (checks? )?(did not pass|failed|failure) for|sender(s)? (must )?authenticate|"
        r"5\.7\.(2[0-4]|26|509|515)|4\.7\.26|arc validation",
    ),
    (
        "requireptr",
        r"\bptr\b|reverse dns|\brdns\b|reverse (lookup|hostname|resolution)|"
        r"cannot find your (reverse )?hostname|hostname (does not|doesn't) (match|resolve)|no reverse|"
        r"5\.7\.25|4\.7\.25",
    ),
    (
        "norelaying",
        r"relay(ing)? (access )?(denied|not (permitted|allowed))|not permitted to relay|unable to relay|"
        r"we do not relay|no relaying|relay not allowed|open relay|not (an )?(allowed|authorized) relay|"
        r"relaying (is )?(prohibited|disallowed)",
    ),
    (
        "rejected",
        r"sender (address )?(rejected|denied|refused|unknown|invalid|verify failed|not allowed)|"
        r"sender verification|sender domain (must exist|does not exist|not found|is invalid)|"
        r"domain of sender address|invalid sender|bad sender|from address rejected|"
        r"return[- ]path (rejected|invalid)|mail from (rejected|refused)|not allowed to send from|"
        r"5\.1\.[78]\b|5\.7\.27|sender address has null mx|unverified (sender|address)|"
        r"address is not verified|identit(y|ies) .{0,30}not verified",
    ),
    # -- the recipient does not exist -----------------------------------------------------------
    (
        "hostunknown",
        r"host (or domain name )?(not found|unknown)|unknown host|domain (name )?not found|"
        r"domain (does not|doesn't) exist|no such domain|unrouteable (mail )?domain|"
        r"name or service not known|nxdomain|no mx (record|host)|no mail (exchanger|host)s? for|"
        r"all relevant mx records point to non-existent hosts|non-?existent (domain|host)|"
        r"smtpsend\.dns\.nonexistentdomain|domain (is )?(invalid|unknown)|unknown domain|"
        r"unresolvable (host|domain)|dns error: domain name not found|mx lookup failed",
    ),
    (
        "userunknown",
        r"user( name)? (is )?unknown|unknown (user|recipient|local[- ]part|address|mailbox|account)|"
        r"no such (user|mailbox|recipient|address|account|local user|person)|"
        r"recipient (unknown|not found|does not exist|invalid)|(mailbox|address|account|user|"
        r"e-?mail address)( name)? (is )?(not found|invalid|does ?n.?t exist|does not exist|not valid|"
        r"unavailable|not present)|(email )?account that you tried to reach does not exist|nosuchuser|"
        r"recip(ient)?notfound|invalid (recipient|mailbox|address|user)|"
        r"not (a )?(valid|known) (user|recipient|mailbox|address)|"
        r"not listed in (domino|the directory|our directory|public name)|not unique\. several matches|"
        r"unrouteable address|no mailbox (here|by that name)|addressee unknown|mailbox not found|"
        r"user not found|not our customer|is not a known user|undeliverable address|"
        r"bad destination mailbox|doesn.?t have an? .{1,30} account|address (rejected|unknown|not found)|"
        r"recipient address rejected: (access denied|user|invalid|unknown|undeliverable)|"
        r"this address no longer accepts mail|mailbox unavailable|not a local (address|user)|"
        r"user doesn'?t exist|does not have an account|unknown or illegal alias|no account by that name|"
        r"recipient rejected|bad recipient|has been suppressed .{0,40}invalid address|"
        r"rejecting for recipient|sorry, no mailbox|unknown alias|address is wrong|no longer valid|"
        r"in my list of allowed rcpthosts|"
        r"invalid (final )?(delivery )?userid|n.existe pas|no existe|existiert nicht|user not known|"
        r"no matches to nameserver query|does not have a final (e-?mail )?delivery|"
        r"did not (exactly )?match (an|any) .{0,20}address|mailbox .{1,60} does not exist|"
        r"no valid recipients|previously bounced|^bounced address$",
    ),
    # -- the recipient's own choice, then what the receiver thinks of us or of the message ---------
    (
        "filtered",
        r"blocked by (the )?recipient|recipient (has )?(blocked|rejected|refused)|"
        r"user (has )?(blocked|refused)|envelope blocked - user|blocked senders|"
        r"rejected by (the )?(recipient|user)'?s? (filter|rule|settings)|user refuses|"
        r"resolver\.rst\.(notauthorized|authrequired|restrictedtorecipients)|"
        r"only accepts (mail|messages) from|not accepting (mail|messages|e-?mail) from|"
        r"restricted to (internal|authorized) senders|"
        r"not (allowed|authori[sz]ed) to send (to|e-?mail to) this (recipient|group|address)|"
        r"recipient.{0,20} (does not|doesn't) (accept|want) (mail|messages) from|"
        r"sender (is )?(blocked|blacklisted) by (the )?(recipient|user)|mailbox (is )?restricted",
    ),
    (
        "securityerror",
        r"must issue a starttls|(tls|encryption|starttls) (is )?required|requiretls|"
        r"authentication (credentials invalid|required|is required)|must (first )?authenticate|smtp auth|"
        r"certificate (verification|validation|is not trusted)",
    ),
    (
        "virusdetected",
        r"virus|malware|infected|trojan|malicious (content|attachment|payload)|worm detected",
    ),
    (
        "blocked",
        r"block ?list|black ?list|blocked using|spamhaus|spamcop|barracuda|sorbs|dnsbl|\brbl\b|uceprotect|"
        r"(?<!not )listed (at|in|on|by)|banned sending ip|access denied, banned|s3150|s3140|"
        r"ipcheck\.proofpoint|proofpoint (dynamic )?reputation|\[bl2[0-3]\]|\[rl0[1-9]\]|"
        r"(ip|address|host|network|connection) .{0,30}(is |has been )?(blocked|banned|blacklisted)|"
        r"(blocked|banned|blacklisted) (ip|address|host|network)|client host .{0,80} blocked|"
        r"5\.7\.(606|6[0-4]\d|708|750)|not accepted from this ip|poor ip|your ip .{0,40}(block|listed)|"
        r"connection (refused|rejected) (from|by|due)|too many (bad|invalid) recipients",
    ),
    (
        "badreputation",
        r"reputation|user complaints|unsolicited rate|unsolicitedrateerror|unusual rate of unsolicited|"
        r"sender score|\[tss0[14]\]|\[ts0[1-3]\]|poor sending history",
    ),
    (
        "notcompliantrfc",
        r"rfc ?(5322|2822|822|5321)|not rfc|rfcmessagenoncompliant|"
        r"multiple (from|to|subject|date|message-id|sender) (headers|fields)|duplicate header|"
        r"missing (a )?(valid )?(from|date|message-id)|malformed (header|address)|"
        r"header (is )?(malformed|invalid|missing)|"
        r"without (a )?(to|from|date|message-id):? (field|header)|no [\w-]+ (field|header) given",
    ),
    (
        "spamdetected",
        r"spam|unsolicited|junk mail|bulk mail|unwanted (mail|message)|phish|content filter|"
        r"(message|mail|content) (was )?(identified|classified|considered|flagged|detected) as|"
        r"high (spam )?score|\bube\b|suspicious (content|message)",
    ),
    (
        "contenterror",
        r"message content rejected|content (rejected|not accepted|refused)|invalid (mime|message)|"
        r"(attachment|file type) .{0,40}(not allowed|prohibited|blocked|banned)|"
        r"(prohibited|illegal|banned|forbidden) attachment|8-?bit|non-ascii|media not supported|"
        r"line too long|bare lf|bare cr|message (headers? )?(is |are )?(malformed|corrupt)",
    ),
    (
        "policyviolation",
        r"polic(y|ies)|violat|not allowed|prohibit|terms of service|acceptable use",
    ),
    # -- the receiving system and the network ---------------------------------------------------
    (
        "speeding",
        r"rate ?limit|rate-limit|throttl|receiving mail (at|too) (a )?(rate|fast)|receivingrate|"
        r"too (many|much) (mail|messages|emails|email|traffic)|sending rate|unexpected volume|"
        r"(messages|mail) per (hour|minute|second|day)|exceeded .{0,30}(rate|per hour|per day)|slow down|"
        r"too fast|greylist|grey-list|graylist",
    ),
    (
        "toomanyconn",
        r"too many (connections|concurrent|sessions|smtp sessions|recipients|simultaneous)|"
        r"connection limit|maximum (number of )?(connections|recipients)|resolver\.adr\.reciplimit|"
        r"too many hosts",
    ),
    (
        "mailererror",
        r"x-unix|mailer error|command (died|failed|output)|exited with|exit (code|status)|procmail|"
        r"pipe to \||local delivery failed|delivery program",
    ),
    (
        "networkerror",
        r"(did not|does not|is not|not) respond(ing)?|"
        r"connection (was )?(timed out|refused|reset|dropped|closed|lost)|could not initiate smtp|"
        r"lost connection|no route to host|network (is )?unreachable|could not (connect|establish)|"
        r"unable to connect|connect to .{0,80} (failed|refused|timed out)|host (is )?unreachable|"
        r"routing loop|mail loop|loops? back to myself|too many hops|looping|could not find a gateway|"
        r"hop count exceeded|dns (lookup|error|failure|timeout|query)|temporary lookup failure|"
        r"tls (negotiation|handshake) failed|timed? ?out",
    ),
    (
        "systemerror",
        r"system error|internal (server )?error|local error|server error|configuration error|"
        r"temporar(il)?y (local )?(problem|failure|unavailable|error)|"
        r"service (is )?(temporarily )?(unavailable|not available)|"
        r"mail (server|system) (is )?(unavailable|down)|resources temporarily|error while being processed|"
        r"try again|temporary failure|problem with the (mail )?server",
    ),
    (
        "syntaxerror",
        r"syntax error|command (unrecognized|not recognized|not implemented)|unrecognized command|"
        r"bad sequence of commands|command rejected|invalid command",
    ),
)

DECISIVE: dict[str, str] = {
    "5.2.2": "mailboxfull",
    "4.2.2": "mailboxfull",
    "5.3.4": "mesgtoobig",
    "4.3.4": "mesgtoobig",
    "4.4.7": "expired",
    "5.4.7": "expired",
    "5.7.20": "authfailure",
    "5.7.21": "authfailure",
    "5.7.22": "authfailure",
    "5.7.23": "authfailure",
    "5.7.24": "authfailure",
    "5.7.25": "requireptr",
    "5.7.26": "authfailure",
    "4.7.26": "authfailure",
    "5.7.509": "authfailure",
    "5.7.515": "authfailure",
}

# (class-free "S.D") -> reason, for codes whose words matched nothing above (RFC 3463, RFC 7505, 8904).
STATUS_REASONS: dict[str, str] = {
    "1.0": "userunknown",
    "1.1": "userunknown",
    "1.2": "hostunknown",
    "1.3": "userunknown",
    "1.4": "filtered",
    "1.5": "delivered",
    "1.6": "hasmoved",
    "1.7": "rejected",
    "1.8": "rejected",
    "1.9": "systemerror",
    "1.10": "notaccept",
    "2.0": "filtered",
    "2.1": "suspend",
    "2.2": "mailboxfull",
    "2.3": "exceedlimit",
    "2.4": "systemerror",
    "3.0": "systemerror",
    "3.1": "systemfull",
    "3.2": "notaccept",
    "3.3": "systemerror",
    "3.4": "mesgtoobig",
    "3.5": "systemerror",
    "4.0": "networkerror",
    "4.1": "networkerror",
    "4.2": "networkerror",
    "4.3": "systemerror",
    "4.4": "hostunknown",
    "4.5": "systemerror",
    "4.6": "networkerror",
    "4.7": "expired",
    "4.8": "networkerror",
    "5.0": "systemerror",
    "5.1": "syntaxerror",
    "5.2": "syntaxerror",
    "5.3": "toomanyconn",
    "5.4": "syntaxerror",
    "5.5": "systemerror",
    "5.6": "syntaxerror",
    "6.0": "contenterror",
    "6.1": "contenterror",
    "6.2": "contenterror",
    "6.3": "contenterror",
    "6.4": "contenterror",
    "6.5": "contenterror",
    "6.6": "contenterror",
    "6.7": "contenterror",
    "6.8": "contenterror",
    "6.9": "contenterror",
    "6.10": "contenterror",
    "7.0": "securityerror",
    "7.1": "securityerror",
    "7.2": "securityerror",
    "7.3": "securityerror",
    "7.4": "securityerror",
    "7.5": "securityerror",
    "7.6": "securityerror",
    "7.7": "securityerror",
    "7.8": "securityerror",
    "7.9": "securityerror",
    "7.10": "securityerror",
    "7.11": "securityerror",
    "7.12": "securityerror",
    "7.13": "suspend",
    "7.14": "securityerror",
    "7.15": "securityerror",
    "7.16": "mesgtoobig",
    "7.17": "hasmoved",
    "7.18": "hasmoved",
    "7.19": "securityerror",
    "7.20": "authfailure",
    "7.21": "authfailure",
    "7.22": "authfailure",
    "7.23": "authfailure",
    "7.24": "authfailure",
    "7.25": "requireptr",
    "7.26": "authfailure",
    "7.27": "rejected",
    "7.28": "speeding",
    "7.29": "authfailure",
    "7.30": "securityerror",
}

# Plain RFC 5321 reply codes, for servers that give no enhanced code and words we do not know.
BASIC_REASONS: dict[str, str] = {
    "421": "systemerror",
    "450": "onhold",
    "451": "systemerror",
    "452": "systemfull",
    "500": "syntaxerror",
    "501": "syntaxerror",
    "502": "syntaxerror",
    "503": "syntaxerror",
    "504": "syntaxerror",
    "521": "notaccept",
    "530": "securityerror",
    "535": "securityerror",
    "551": "hasmoved",
    "552": "mailboxfull",
    "553": "userunknown",
    "556": "notaccept",
}

# The RFC 3463 code a reason stands for, reported when the receiver's words named a reason but no code.
CANONICAL_CODES: dict[str, str] = {
    "userunknown": "5.1.1",
    "hostunknown": "5.1.2",
    "hasmoved": "5.1.6",
    "notaccept": "5.1.10",
    "rejected": "5.1.8",
    "suspend": "5.2.1",
    "mailboxfull": "5.2.2",
    "exceedlimit": "5.2.3",
    "filtered": "5.2.0",
    "systemerror": "5.3.0",
    "systemfull": "5.3.1",
    "mesgtoobig": "5.3.4",
    "networkerror": "5.4.0",
    "expired": "5.4.7",
    "toomanyconn": "5.5.3",
    "syntaxerror": "5.5.2",
    "contenterror": "5.6.0",
    "securityerror": "5.7.0",
    "blocked": "5.7.1",
    "spamdetected": "5.7.1",
    "policyviolation": "5.7.1",
    "norelaying": "5.7.1",
    "virusdetected": "5.7.1",
    "badreputation": "5.7.1",
    "notcompliantrfc": "5.7.1",
    "authfailure": "5.7.26",
    "requireptr": "5.7.25",
    "speeding": "4.7.0",
}

# Wordings that stand for a more precise code than their reason's canonical one.
PHRASE_CODES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"could not initiate smtp|not accepting network messages|could not establish"), "5.3.2"),
)

# A permanent refusal of RCPT TO with nothing else to go on is an unknown recipient; of MAIL FROM, us.
AT_RCPT = re.compile(r"rcpt( to)?\b|in reply to end of rcpt|recipient address", re.I)
AT_MAIL_FROM = re.compile(r"mail from\b|in reply to mail\b", re.I)

COMPILED: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern)) for name, pattern in WORDINGS
)
