"""The sandbox's own credentials: published here on purpose, they open nothing but the sandbox."""

SANDBOX_SENDCLOUD_KEYS = ("sandbox-public", "sandbox-private")
SANDBOX_ACS_KEY = "c2FuZGJveC1hY3Mta2V5LW5vdC1hLXNlY3JldA=="  # base64 of a throwaway value
