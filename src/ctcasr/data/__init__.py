"""Corpora, manifests, downloads and data loading."""
