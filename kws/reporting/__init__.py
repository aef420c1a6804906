"""Reporting: classification scores, figures of the frontend and of results, run comparisons."""
