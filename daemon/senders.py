"""What the answer rules know about who sends mail: knowledge as data.

Rule 6 (PRODUCT.md) is written once in :mod:`daemon.replies`; everything it needs to
know about the outside world lives here, one table per kind of sender or signal, one
comment per entry, each entry tested in tests/test_replies.py. Adding a tracking system
or a calendar's wording in another language is a one-line change here.

Domains are matched with their subdomains (``us.greenhouse-mail.io`` is under
``greenhouse-mail.io``). Patterns are bounded (no nested repeats) and compiled once.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Naming(enum.StrEnum):
    """Where a tracking system's mail names the company it writes for."""

    DISPLAY_NAME = "display name"  # "Acme Corp <no-reply@us.greenhouse-mail.io>"
    REPLY_TO = "Reply-To"  # Reply-To: jane.kim@acme.com, or "Acme Recruiting <...>"
    SUBJECT = "subject"  # "Your application to Acme Corp"
    EXCERPT = "text"  # "Thank you for your interest in Acme Corp"
    SENDER_ADDRESS = "sender address"  # a tenant in the address: acme@myworkday.com


_COMMON = (Naming.DISPLAY_NAME, Naming.REPLY_TO, Naming.SUBJECT, Naming.EXCERPT)
_TENANT = (*_COMMON, Naming.SENDER_ADDRESS)


@dataclass(frozen=True)
class Service:
    """A recruiting or scheduling service that writes to candidates for companies."""

    name: str
    domains: tuple[str, ...]
    names_company_by: tuple[Naming, ...] = _COMMON
    kind: str = "ATS"  # or "scheduling": the word the reason uses


# Applicant tracking systems and interview-scheduling tools (rule 6, second clause).
# Their mail counts only when it is about this interview's company; how each names it:
SERVICES: tuple[Service, ...] = (
    # Greenhouse: "Acme Corp <no-reply@us.greenhouse-mail.io>" (eu. for EU tenants),
    # Reply-To the recruiter or a no-reply; recruiter mail keeps the recruiter's name.
    Service("Greenhouse", ("greenhouse-mail.io", "greenhouse.io", "greenhousemail.io")),
    # Lever: "Acme <no-reply@hire.lever.co>", Reply-To the recruiter at the company.
    Service("Lever", ("hire.lever.co", "lever.co")),
    # Ashby: "Acme Recruiting <no-reply@ashbyhq.com>", company in the subject line.
    Service("Ashby", ("ashbyhq.com", "ashby.io")),
    # Workday: the tenant is the local part: "Globex Careers <globex@myworkday.com>".
    Service("Workday", ("myworkday.com", "myworkdayjobs.com", "workday.com"), _TENANT),
    # SmartRecruiters: "Soylent Hiring <noreply@smartrecruiters.com>", Reply-To a person.
    Service("SmartRecruiters", ("smartrecruiters.com", "smartrecruiters-mail.com")),
    # iCIMS: tenant subdomains and locals: careers-stark@icims.com, stark.icims.com.
    Service("iCIMS", ("icims.com", "icims-mail.com"), _TENANT),
    # Oracle Taleo: tenant subdomain, "wayne.taleo.net"; display "Wayne Enterprises".
    Service("Taleo", ("taleo.net",), _TENANT),
    # Oracle Recruiting Cloud (Taleo's successor) mails from fa.*.oraclecloud.com.
    Service("Oracle Recruiting", ("oraclecloud.com",)),
    # Jobvite: "Vandelay Industries <notification@jobvite.com>".
    Service("Jobvite", ("jobvite.com",)),
    # Workable: per-tenant sender at workablemail.com, display name the company.
    Service("Workable", ("workablemail.com", "workable.com"), _TENANT),
    # BambooHR: tenant subdomain, "bluth.bamboohr.com".
    Service("BambooHR", ("bamboohr.com",), _TENANT),
    # Teamtailor: "Fjord Analytics <no-reply@teamtailor-mail.com>".
    Service("Teamtailor", ("teamtailor-mail.com", "teamtailor.com")),
    # Recruitee: tenant subdomains and display name.
    Service("Recruitee", ("recruitee.com", "recruiteemail.com"), _TENANT),
    # Personio: "Nordlicht GmbH <noreply@personio.de>", jobs at nordlicht.jobs.personio.de.
    Service("Personio", ("personio.de", "personio.com"), _TENANT),
    # JazzHR: mails through applytojob.com (its careers sites) and jazzhr.com.
    Service("JazzHR", ("jazzhr.com", "applytojob.com", "jazz.co"), _TENANT),
    # Breezy HR: "<tenant>@breezy-mail.com"-style senders, display the company.
    Service("Breezy HR", ("breezy.hr", "breezy-mail.com"), _TENANT),
    # SAP SuccessFactors recruiting notifications.
    Service("SuccessFactors", ("successfactors.com", "successfactors.eu")),
    # Pinpoint, Gem, Comeet, Rippling recruiting, Paradox (conversational scheduling).
    Service("Pinpoint", ("pinpointhq.com",), _TENANT),
    Service("Gem", ("gem.com",)),
    Service("Comeet", ("comeet.co", "comeet.com")),
    Service("Rippling", ("rippling.com",)),
    Service("Paradox", ("paradox.ai",), kind="scheduling"),
    # Scheduling tools: GoodTime ("Umbrella Labs via GoodTime"), Calendly
    # ("Calendly <notifications@calendly.com>", host name and event in the subject),
    # ModernLoop, Prelude, YouCanBookMe, Cal.com, SavvyCal.
    Service("GoodTime", ("goodtime.io",), kind="scheduling"),
    Service("Calendly", ("calendly.com", "calendly-mail.com"), kind="scheduling"),
    Service("ModernLoop", ("modernloop.io",), kind="scheduling"),
    Service("Prelude", ("prelude.co",), kind="scheduling"),
    Service("YouCanBookMe", ("youcanbook.me",), kind="scheduling"),
    Service("Cal.com", ("cal.com",), kind="scheduling"),
    Service("SavvyCal", ("savvycal.com",), kind="scheduling"),
)

# Display names of a service that name no company: never "the company" on their own.
GENERIC_NAMES = re.compile(
    r"^(?:no[-\s]?reply|do not reply|notifications?|hiring team|recruiting( team)?|talent"
    r"( acquisition)?( team)?|careers?|jobs?|candidate experience|the team|team|"
    r"greenhouse|lever|ashby|workday|smartrecruiters|icims|taleo|jobvite|workable|"
    r"bamboohr|teamtailor|recruitee|personio|jazzhr|calendly|goodtime|modernloop)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Network:
    """A professional network that notifies of messages sent through it."""

    name: str
    domains: tuple[str, ...]


# Professional networks (rule 6, third clause): a notification counts when it names the
# person (or company) who wrote; their job alerts and "application sent" mail never do.
NETWORKS: tuple[Network, ...] = (
    # LinkedIn: "Jane Kim via LinkedIn <messaging-digest-noreply@linkedin.com>",
    # InMail from "inmail-hit-reply@linkedin.com"; subject "Jane sent you a new message".
    Network("LinkedIn", ("linkedin.com",)),
    # XING: "Jane Kim hat Ihnen eine Nachricht geschickt" from mail.xing.com.
    Network("XING", ("xing.com",)),
    # Indeed: employer messages "New message from Acme Corp"; replies relayed through
    # indeedemail.com addresses with the writer's name.
    Network("Indeed", ("indeed.com", "indeedemail.com")),
    # Wellfound (AngelList Talent): "Sam from Tinyfox sent you a message".
    Network("Wellfound", ("wellfound.com", "angel.co")),
)

# A network notification of a message, in the languages the networks write; group
# ``who`` is the writer's name (or company).
NETWORK_MESSAGE = tuple(re.compile(p, re.IGNORECASE) for p in (
    # English: "Jane Kim sent you a message", "Jane sent you a new message"
    r"^(?:re:\s*)?(?P<who>[^:]{2,80}?) (?:just )?sent you (?:a |an )?(?:new )?(?:message|inmail)",
    # English: "New message from Jane Kim", "You have a new message from Acme Corp"
    r"\bnew message from (?P<who>[^:!?]{2,80}?)(?: on (?:linkedin|indeed|xing|wellfound))?\s*$",
    # English: "Jane Kim replied to your message"
    r"^(?P<who>[^:]{2,80}?) (?:replied to|responded to) your (?:message|inmail)",
    # German: "Jane Kim hat Ihnen eine Nachricht gesendet/geschickt"
    r"^(?P<who>[^:]{2,80}?) hat (?:Ihnen|dir) eine (?:neue )?Nachricht (?:gesendet|geschickt)",
    # French: "Jane Kim vous a envoyé un message"
    r"^(?P<who>[^:]{2,80}?) vous a envoyé un (?:nouveau )?message",
    # Spanish: "Jane Kim te ha enviado un mensaje" / "le ha enviado"
    r"^(?P<who>[^:]{2,80}?) (?:te|le) ha enviado un (?:nuevo )?mensaje",
))

# Senders of a network that carry one person's message (InMail, message notices):
# their display name is the writer's.
NETWORK_MESSAGE_LOCALS = frozenset({
    "inmail-hit-reply",  # LinkedIn InMail
    "messages-noreply",  # LinkedIn message notification
    "messaging-digest-noreply",  # LinkedIn, one or more messages
})

# Display names a network adds to the writer's: "Jane Kim via LinkedIn".
NETWORK_VIA = re.compile(r"^(?P<who>.{2,80}?)\s+(?:via|über|par|a través de)\s+\w+$",
                         re.IGNORECASE)


@dataclass(frozen=True)
class Notifier:
    """A sender of automatic notices: ``domain`` (with subdomains), or one address."""

    label: str
    domain: str
    local: str = ""  # "" for any address at the domain


# Calendar systems' own senders (rule 6: calendar notices are never answers). Most
# notices come From the organizer; the subject prefixes below catch those.
CALENDAR_SENDERS: tuple[Notifier, ...] = (
    # Google Calendar, when it sends in its own name (resource or group calendars).
    Notifier("Google Calendar", "google.com", "calendar-notification"),
    Notifier("Google Calendar", "calendar.google.com"),
    Notifier("Google Calendar", "calendar-server.bounces.google.com"),
    # Apple iCloud invitations relayed through iMIP.
    Notifier("iCloud Calendar", "imip.me.com"),
)

# Meeting tools: recordings, transcripts and AI summaries of the interview itself.
MEETING_TOOLS: tuple[Notifier, ...] = (
    Notifier("Zoom", "zoom.us"),  # "Cloud Recording - ... is now available"
    Notifier("Zoom", "zoom.com"),  # AI Companion meeting summaries
    Notifier("Microsoft Teams", "teams.microsoft.com"),  # email.teams.microsoft.com
    Notifier("Google Meet", "google.com", "meetings-noreply"),  # recordings, transcripts
    Notifier("Google Meet", "google.com", "gemini-notes"),  # "Notes by Gemini"
    Notifier("Webex", "webex.com"),
    Notifier("GoTo Meeting", "goto.com"),
    Notifier("Whereby", "whereby.com"),
    Notifier("Otter.ai", "otter.ai"),  # "Your meeting notes are ready"
    Notifier("Fireflies.ai", "fireflies.ai"),  # "Fred from Fireflies.ai"
    Notifier("Read AI", "read.ai"),
    Notifier("Fathom", "fathom.video"),
    Notifier("tl;dv", "tldv.io"),
    Notifier("Grain", "grain.com"),
    Notifier("Avoma", "avoma.com"),
    Notifier("Gong", "gong.io"),
    Notifier("Chorus", "chorus.ai"),
    Notifier("Metaview", "metaview.ai"),  # interview notes for hiring teams
    Notifier("BrightHire", "brighthire.ai"),  # interview recordings for hiring teams
)

# Subjects of meeting-tool mail that comes from an ordinary address (a host's Zoom
# account forwarding its recording, a transcript shared by hand is a person's mail).
MEETING_SUBJECT = re.compile(
    r"^(?:cloud recording\b|meeting (?:recording|summary|notes|assets)\b|recording (?:of|for)\b|"
    r"your (?:meeting )?(?:notes|transcript|recording) (?:is|are) ready|notes by gemini|"
    r"transcript (?:of|for)\b|meeting summary with ai companion)",
    re.IGNORECASE,
)

# Subject prefixes of calendar notices (rule 6: "accepted, declined, updated,
# cancelled"), as Google Calendar and Outlook write them in each language. A new
# invitation ("Invitation:") is not here: a second-round invitation is next steps.
CALENDAR_PREFIXES: tuple[tuple[str, str], ...] = (
    # English: Google Calendar / Outlook
    ("Updated invitation with note", "Google"),
    ("Updated invitation", "Google"),
    ("Accepted", "Google, Outlook"),
    ("Declined", "Google, Outlook"),
    ("Tentatively accepted", "Google"),
    ("Tentative", "Outlook"),
    ("Canceled event with note", "Google"),
    ("Canceled event", "Google"),
    ("Cancelled event", "Google en-GB"),
    ("Canceled", "Outlook"),
    ("Cancelled", "Outlook en-GB"),
    ("Updated", "Outlook"),
    ("New time proposed", "Outlook"),
    ("Proposed new time", "Google"),
    ("Meeting Forward Notification", "Exchange"),
    ("Invitation updated", "Apple"),
    # German
    ("Aktualisierte Einladung", "Google"),
    ("Einladung aktualisiert", "Apple"),
    ("Angenommen", "Google, Outlook"),
    ("Abgelehnt", "Google, Outlook"),
    ("Mit Vorbehalt angenommen", "Outlook"),
    ("Vorläufig angenommen", "Google"),
    ("Abgesagter Termin", "Google"),
    ("Abgesagt", "Outlook"),
    ("Aktualisiert", "Outlook"),
    ("Neue Zeit vorgeschlagen", "Outlook"),
    # French
    ("Invitation mise à jour", "Google"),
    ("Invitation acceptée", "Google"),
    ("Invitation refusée", "Google"),
    ("Événement annulé", "Google"),
    ("Accepté", "Outlook"),
    ("Refusé", "Outlook"),
    ("Provisoire", "Outlook"),
    ("Annulé", "Outlook"),
    ("Mis à jour", "Outlook"),
    ("Nouvelle heure proposée", "Outlook"),
    # Spanish
    ("Invitación actualizada", "Google"),
    ("Invitación aceptada", "Google"),
    ("Invitación rechazada", "Google"),
    ("Evento cancelado", "Google"),
    ("Aceptado", "Outlook"),
    ("Aceptada", "Outlook"),
    ("Rechazado", "Outlook"),
    ("Rechazada", "Outlook"),
    ("Provisional", "Outlook"),
    ("Cancelado", "Outlook"),
    ("Cancelada", "Outlook"),
    ("Actualizado", "Outlook"),
    ("Actualizada", "Outlook"),
)
# iTIP methods of a text/calendar body that are notices, not invitations (RFC 5546).
CALENDAR_NOTICE_METHODS = frozenset({"reply", "cancel", "counter", "declinecounter", "refresh"})

# Tags mail gateways put before a subject: "[EXTERNAL]", "[Ext]", "EXT:".
SUBJECT_TAGS = r"(?:(?:\[[^\]\n]{1,40}\]|\(?ext(?:ernal)?\)?:)\s*)*"

# Headers that mark bulk mail (rule 6: newsletters and marketing are never answers).
# Feedback-ID is deliberately absent: mail services put it on transactional mail too,
# tracking systems' rejections included.
BULK_HEADERS: tuple[tuple[str, str], ...] = (
    ("list-unsubscribe", ""),  # RFC 2369; required of bulk senders by Gmail and Yahoo
    ("list-unsubscribe-post", ""),  # RFC 8058 one-click unsubscribe
    ("list-id", ""),  # RFC 2919 mailing lists and newsletters
    ("precedence", "bulk"),  # RFC 3834 section 3.1.7
    ("precedence", "list"),
    ("precedence", "junk"),
    ("x-campaign", ""),  # campaign tools (Mailchimp, Campaign Monitor...)
    ("x-mailchimp-campaign", ""),
)

# Local parts that are a company's bulk or business mail, never a hiring answer.
BULK_LOCALS = frozenset({
    "newsletter", "newsletters", "news", "marketing", "events", "event", "webinar",
    "webinars", "community", "digest", "updates", "product-updates", "promo", "promotions",
    "offers", "deals", "shop", "store", "orders", "billing", "invoice", "invoices",
    "invoicing", "receipts", "payments", "accounts-payable", "ap", "ar", "sales",
    "support", "help", "feedback", "survey", "surveys", "security",
})

# Subjects of bulk, business and marketing mail (invoices, receipts, event promotion).
BULK_SUBJECT = re.compile(
    r"\b(?:newsletter|digest|webinar|summit|meetup|save the date|register now|"
    r"product updates?|release notes|what'?s new|invoice|receipt|payment (?:received|due|"
    r"confirmation)|order (?:confirmation|#)|your (?:order|subscription|plan|trial)|"
    r"renewal|rechnung|quittung|facture|factura|recibo|% off|sale ends)\b",
    re.IGNORECASE,
)

# Account and survey mail of a tracking system or careers site: about the candidate's
# login or their opinion, never an answer about the application.
ACCOUNT_NOTICE = re.compile(
    r"\b(?:password|verify your (?:e-?mail|account)|confirm your (?:e-?mail|account)|"
    r"account (?:created|verification|activation)|sign[- ]in (?:code|link)|one-time (?:code|"
    r"passcode)|verification code|candidate (?:home )?account|"
    r"survey|how was your (?:interview|candidate|application) experience|"
    r"rate your (?:interview|candidate|application)? ?experience|"
    r"feedback on your (?:interview|candidate|application) experience|"
    r"passwort|kennwort|mot de passe|contraseña|umfrage|enquête|encuesta)\b",
    re.IGNORECASE,
)

# Job alerts and recommendations: never an answer, whoever sends them.
JOB_ALERT = re.compile(
    r"\b(?:job alerts?|new jobs?\b|jobs? (?:you may|that may|for you|matching)|"
    r"recommended (?:jobs|roles)|new (?:roles|positions|openings|opportunities) (?:at|for|"
    r"matching)|is hiring|are hiring|we'?re hiring|jobs? at .{1,40} you might|"
    r"job recommendations?|neue (?:jobs|stellen)|passende stellen|jobempfehlung|"
    r"offres d'emploi|nouvelles offres|nuevas ofertas|empleos para ti)",
    re.IGNORECASE,
)
JOB_ALERT_LOCALS = frozenset({
    "jobalerts", "jobalert", "job-alerts", "jobs-listings", "jobs-noreply", "jobalerts-noreply",
    "talent-community", "talentcommunity",
})

# Confirmations of an application (to another role, or anywhere): never an answer,
# unless the same mail carries a decision (DECISION below).
CONFIRMATION = re.compile(
    r"(?:thank(?:s| you) for (?:applying|your application|submitting)|application "
    r"(?:received|submitted|confirmation)|we(?:'ve| have) (?:successfully )?received your "
    r"application|your application (?:has been|was) (?:received|submitted|sent)|"
    r"bewerbung (?:eingegangen|erhalten)|eingangsbestätigung|vielen dank für (?:ihre|deine) "
    r"bewerbung|nous avons bien reçu votre candidature|merci pour votre candidature|"
    r"hemos recibido (?:tu|su) (?:candidatura|solicitud)|gracias por (?:tu|su) (?:candidatura|"
    r"solicitud))",
    re.IGNORECASE,
)
# Words of a decision or a next step: what makes a tracking system's mail an answer
# even when it opens with "Thank you for applying".
DECISION = re.compile(
    r"\b(?:unfortunately|regret|decided|decision|move forward|moving forward|next steps?|"
    r"not be moving|other candidates|offer|schedule|availability|invite you|"
    r"leider|entschieden|nächsten? schritte?|absage|angebot|malheureusement|"
    r"prochaine étape|décidé|lamentablemente|desafortunadamente|siguiente paso|"
    r"hemos decidido)",
    re.IGNORECASE,
)

# Delivery-status senders (bounces): local parts, with plus-tags removed.
BOUNCE_LOCALS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})

# Subjects of automatic replies and delivery failures, in the languages mail servers use.
AUTO_SUBJECT = re.compile(
    r"^\s*" + SUBJECT_TAGS + r"(?:"
    r"out\s+of\s+(?:the\s+)?office|automatic\s+reply|auto[-\s]?reply|autoreply|"
    r"auto[-\s]?response|auto:|ooo\b|away\s+from\s+(?:the\s+)?office|on\s+vacation\b|"
    r"abwesen(?:d|heit)|automatische\s+antwort|außer\s+haus|nicht\s+im\s+büro|"
    r"réponse\s+automatique|absence\b|absent\b|"
    r"respuesta\s+automática|fuera\s+de\s+(?:la\s+)?oficina|risposta\s+automatica|fuori\s+sede|"
    r"automatisch\s+antwoord|afwezig|autosvar|frånvar|fraværende|poza\s+biurem|"
    r"resposta\s+automática|ausente)",
    re.IGNORECASE,
)
BOUNCE_SUBJECT = re.compile(
    r"^\s*" + SUBJECT_TAGS + r"(?:"
    r"undeliverable|undelivered\s+mail|delivery\s+status\s+notification|"
    r"mail\s+delivery\s+(?:failed|failure|subsystem)|returned\s+mail|delivery\s+failure|"
    r"failure\s+notice|message\s+not\s+delivered|unzustellbar|non\s+remis|no\s+se\s+puede\s+"
    r"entregar|non\s+distribuable)",
    re.IGNORECASE,
)
# Read receipts sent as plain mail (clients that do not build a multipart/report).
RECEIPT_SUBJECT = re.compile(
    r"^\s*" + SUBJECT_TAGS + r"(?:read|not\s+read|gelesen|ungelesen|lu|leído|leido|"
    r"read\s+receipt|return\s+receipt)\s*:",
    re.IGNORECASE,
)

# First lines of an out-of-office body, for replies that carry no header and keep the
# original subject ("Re: Thank you"). Present or future tense only: "I was out last
# week, sorry" is a person's answer.
AUTO_BODY = re.compile(
    r"(?:\b(?:i am|i'm|i will be|i'll be|i am currently|i'm currently) "
    r"(?:currently )?(?:out of (?:the )?office|away (?:from (?:the|my) office|until|on)|"
    r"on (?:vacation|holiday|leave|annual leave|parental leave|pto)|"
    r"travell?ing with limited|off work)|"
    r"\bthis is an automatic reply|\bthis is an automated (?:reply|response)|"
    r"\bthank you for your (?:e-?mail|message)\.? i am (?:currently )?(?:out|away)|"
    r"\bich bin (?:derzeit |zurzeit |bis )?.{0,30}?(?:nicht im büro|abwesend|im urlaub|"
    r"außer haus)|\bdies ist eine automatische antwort|"
    r"\bje suis (?:actuellement )?(?:absent|absente|en congé|en vacances)|"
    r"\bceci est une réponse automatique|"
    r"\bestoy (?:actualmente )?(?:fuera de la oficina|de vacaciones|ausente)|"
    r"\besta es una respuesta automática)",
    re.IGNORECASE,
)
# How many characters of the body AUTO_BODY looks at: an auto reply says it first.
AUTO_BODY_WINDOW = 400
