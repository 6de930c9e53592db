"""Lesson pages (hourNN_*.py), the template, and what every page shares: frame, experiments, live, charts, controls."""
