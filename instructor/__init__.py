"""Instructor tools: run the lessons and make their student versions.

Not part of the installed ``course_utils`` package, which holds only what lessons
import. Run from the repository root (the Makefile does)::

    python -m instructor.runner notebooks/*.ipynb         # make run
    python -m instructor.student write notebooks/*.ipynb  # part of make solutions
    python -m instructor.student check notebooks/*.ipynb  # make check-solutions

Their tests live in ``tests/instructor/``.
"""
