"""Application plumbing shared by every area: config, extensions, errors, security."""
