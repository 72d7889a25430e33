"""labsim."""
