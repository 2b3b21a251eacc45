"""The engine: contacts, events, runs over the compiled graph, waits, the outbox."""
