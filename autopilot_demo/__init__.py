"""The demo: a sample shop through every task, against Azurite and the sandbox. Never deployed."""
