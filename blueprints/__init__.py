"""HTTP only: each module parses a request, authorizes it, calls a service and renders."""
