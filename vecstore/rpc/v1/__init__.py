"""Modules generated from proto/vecstore/v1/vecstore.proto by `make proto`; do not edit them."""
