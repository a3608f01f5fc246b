"""The pool engine's pages: ``settings`` (pool groups, initialise) and ``actions`` (the
responses of the pool actions, shared by every pool list)."""
