"""Fuzz harnesses: every HTTP route (and, later, every command) driven with adversarial input."""
