"""The types and errors stages hand each other; a stage knows another only through these.

Nothing here imports a stage (``services.*``); ``lint-imports`` checks it.
"""
