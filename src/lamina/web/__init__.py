"""Static files of the web playground (package data)."""
