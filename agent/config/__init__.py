"""Settings, their sections, and the clients built from them."""
