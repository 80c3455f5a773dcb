"""The chaos suite: disruptions on the real local stack (loopback only), each checked
against an undisturbed run. ``make chaos`` runs it; ``docs/RELIABILITY.md`` has its table."""
