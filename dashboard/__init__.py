"""Streamlit dashboard: search, hits with descriptions and clips."""
