"""Loopback Hugging Face Hub for the publishing tests (being written)."""
