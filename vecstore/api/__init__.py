"""The public-API layer: argument checks, filter parsing, payload and sparse types.

Shared by the embedded engine, the gRPC client and any router in front of many
engines, so a client never has to import the storage engine to check its input.
Imports only numpy, vecstore.config, vecstore.errors and vecstore.types.
"""
