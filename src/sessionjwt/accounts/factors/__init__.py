"""Second factors: TOTP, recovery codes, passkeys, and the sign-in that waits for one."""
