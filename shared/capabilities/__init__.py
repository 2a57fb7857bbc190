"""What any stage may use to act on the world: git, the Docker engine, the IaC policies.

Nothing here imports a stage (``services.*``); ``lint-imports`` checks it.
"""
