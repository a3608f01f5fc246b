"""The pool engine's forms: ``groups`` (pool group settings, level rules, initialise) and
``actions`` (claim, assign, move, return: every pool list posts these)."""
