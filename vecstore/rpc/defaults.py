"""Limits shared by the server and the client, so both sides agree by default."""

DEFAULT_MAX_MESSAGE_BYTES = 64 << 20  # 16x gRPC's 4 MiB default
