"""The plugins Relance ships, registered through the same hooks as any other."""
