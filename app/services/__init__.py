"""Operations on the domain: each validates what the schemas cannot, changes rows,
records the audit event and flushes. None commits: the request or CLI command that
called it owns the transaction."""
