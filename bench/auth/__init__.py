"""Benchmarks of stellate-auth: session cost per request and event-loop responsiveness."""
