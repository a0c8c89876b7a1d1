"""The bundle engine: mapping templates, conditions and block execution."""
