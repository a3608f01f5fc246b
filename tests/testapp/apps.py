from django.apps import AppConfig


class TestappConfig(AppConfig):
    """A test-only app with one owned model, so that the core's visibility function is
    tested on its own before any domain module exists."""

    name = "tests.testapp"
    label = "testapp"
