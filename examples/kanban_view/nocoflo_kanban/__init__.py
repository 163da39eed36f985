"""A kanban board view for Nocoflo: a table's rows as cards in lanes by a status column."""

__version__ = "0.1.0"
