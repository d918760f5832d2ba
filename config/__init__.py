"""Settings: one TOML file plus environment overrides, and logging setup."""
