"""`python -m services.gateway`: serve the REST API."""

from services.gateway.main import main

main()
