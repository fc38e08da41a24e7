"""Fixtures for the compatibility-fix tests."""
import importlib.machinery
import importlib.util

import pytest


@pytest.fixture
def fake_find_spec(monkeypatch):
    """``fake_find_spec(name, found)`` makes ``importlib.util.find_spec``
    find a module of that name (``found=True``) or nothing, for the test."""
    answers = {}
    real_find_spec = importlib.util.find_spec

    def find_spec(name, package=None):
        if name in answers:
            return importlib.machinery.ModuleSpec(name, None) \
                if answers[name] else None
        return real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, 'find_spec', find_spec)
    return answers.__setitem__
