"""The newsroom example: a news site whose editors work in the admin."""
