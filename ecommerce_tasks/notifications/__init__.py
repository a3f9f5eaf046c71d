"""Customer notifications: every e-mail goes out once, whatever the queue does."""
