"""interview-followup: drafts thank-you notes and one status check after job interviews."""

__version__ = "0.1.0"
