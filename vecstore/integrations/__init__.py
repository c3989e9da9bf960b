"""Adapters to other frameworks. Each submodule imports its framework only when
it is itself imported, so `import vecstore` never needs them."""
