"""Identity: the HTTP-free credential checks of staff login (passwords, TOTP, passkeys, throttling)."""
