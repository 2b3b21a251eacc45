"""The server: HTTP API, command line and worker settings around the engine."""
