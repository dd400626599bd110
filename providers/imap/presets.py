"""Known IMAP services: server, port, security and what to log in with.

A preset fills the options a user leaves out (``preset = "fastmail"`` needs only
``username``); every value can still be given explicitly. Folder names are not
part of a preset: every service below announces Drafts and Sent with SPECIAL-USE
(RFC 6154), and :mod:`providers.imap.mailbox` falls back to the usual names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    host: str
    port: int
    security: str  # "tls" (implicit TLS, 993), "starttls" or "plain" (loopback only)
    auth: str = "password"  # "password" (an app password where the service asks for one)
    note: str = ""  # shown by `followup auth` and docs/imap.md
    usable: bool = True  # False: the service refuses password logins from programs
    certificate: str = ""  # a PEM file to trust instead of the public CAs (a local bridge)


PRESETS: dict[str, Preset] = {
    # Gmail refuses the account password over IMAP; an app password needs 2-step
    # verification (myaccount.google.com/apppasswords). XOAUTH2 works too.
    "gmail": Preset("imap.gmail.com", 993, "tls",
                    note="an app password (Google Account > Security > App passwords)"),
    # iCloud: the login is the @icloud.com address (or the Apple ID's mail alias).
    "icloud": Preset("imap.mail.me.com", 993, "tls",
                     note="an app-specific password (account.apple.com > Sign-In and Security)"),
    "fastmail": Preset("imap.fastmail.com", 993, "tls",
                       note="an app password with IMAP access (Settings > Privacy & Security)"),
    "yahoo": Preset("imap.mail.yahoo.com", 993, "tls",
                    note="an app password (Account security > Generate app password)"),
    "mailbox.org": Preset("imap.mailbox.org", 993, "tls",
                          note="your password, or an app password if you made one"),
    "posteo": Preset("posteo.de", 993, "tls", note="your Posteo password"),
    # zoho.eu, zoho.in ... accounts use their region's host (imap.zoho.eu): set host.
    "zoho": Preset("imap.zoho.com", 993, "tls",
                   note="an application-specific password; IMAP access must be enabled "
                        "in Zoho Mail's settings; accounts outside the US set host "
                        "(imap.zoho.eu, imap.zoho.in, ...)"),
    # Proton Mail Bridge serves IMAP on the loopback interface with its own
    # self-signed certificate: trusted by pinning the file the Bridge exports
    # (Settings > Export TLS certificates), never by turning verification off.
    "proton-bridge": Preset("127.0.0.1", 1143, "starttls",
                            note="the password the Bridge shows for this mailbox (not your "
                                 "Proton password); set certificate to the cert.pem the "
                                 "Bridge exports",
                            certificate="required"),
    # Microsoft turned off password (basic) authentication for Outlook.com IMAP in
    # 2024: only OAuth2 works, with a Microsoft-registered app. Use provider
    # "microsoft" (Graph) instead.
    "outlook": Preset("outlook.office365.com", 993, "tls", auth="xoauth2", usable=False,
                      note="Outlook.com and Microsoft 365 accept no passwords over IMAP "
                           "(OAuth2 only): use provider = \"microsoft\" instead"),
}
