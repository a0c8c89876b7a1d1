"""Commands added to `flask --app app`."""
