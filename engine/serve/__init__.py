"""Serving a room: a Run (one experiment in the background), the run manager (cap, queue, owners), the run store."""
