"""Feedback from receivers (bounces, complaints, unsubscribes), normalised at the edge into one record."""
