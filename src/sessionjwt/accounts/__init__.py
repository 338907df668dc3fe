"""Sign-in: accounts, passwords, the login throttles, password change and reset by mail."""
