"""Configuration: settings read from the environment and the default channel file."""
