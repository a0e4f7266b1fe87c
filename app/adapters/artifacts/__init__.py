"""Artifact stores: where outputs too large for a table row are kept."""
