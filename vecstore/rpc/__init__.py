"""The wire layer: vecstore.v1 over gRPC (server, client, conversions).

Imported only by `vecstore serve` and `vecstore.connect`; the engine never
imports it. Generated protocol code lives in `vecstore.rpc.v1`.
"""
