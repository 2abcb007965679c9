"""Regression tests from two hostile reviews of the exactly-once, deadline and no-leak work.

Each test's docstring describes the failure as the reviewer found it (what the code did then);
the test asserts the behaviour the README promises, which the fixes made true. The reviews'
findings and what became of each are in the session's closing note.
"""
