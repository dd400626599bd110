"""Pieces more than one backend uses: iCalendar reading (local file, vdir, feed, CalDAV),
the HTTP session (feeds, CalDAV), retries, keyring secrets, header and excerpt helpers."""
