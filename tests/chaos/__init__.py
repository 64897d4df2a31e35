"""Chaos tests: real ``lamina serve`` / ``lamina worker`` processes on loopback, killed,
cut off from their database or storage, or fed hostile inputs; every job must still end in
exactly one terminal state and the server must keep answering."""
