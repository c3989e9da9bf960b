"""The asyncio client: the gRPC client's methods as coroutines, on `grpc.aio`.

    async with vecstore.connect_async("localhost:50051") as db:
        docs = await db.create_collection("docs", dim=384)
        await docs.upsert(ids, vectors)
        hits = await docs.search(queries, k=10)

`AsyncClient` mirrors `Client` and `AsyncRemoteCollection` mirrors
`RemoteCollection`: same methods, parameters, options, return types and
exceptions, each method a coroutine. They run the very plans the blocking
client runs (see client.py), awaiting each call instead of blocking on it, so
input is checked, large batches split and answers decoded by the same code.
Input checks and encoding run on the event loop; a huge batch holds it as
long as encoding that batch takes.

Open it inside a running event loop (grpc.aio channels belong to one loop).
"""
from __future__ import annotations

import asyncio
import functools
import os
from typing import Any, Callable

import grpc
import grpc.aio

from ..errors import UnavailableError, VecstoreError
from . import convert as C
from .client import (DEFAULT_TIMEOUT, Client, Plan, RemoteCollection, _Call, _ClientCore, _CollectionCore,
                     _RememberingAsyncIterator, _RememberingIterator)
from .defaults import DEFAULT_MAX_MESSAGE_BYTES
from .status import error_from_rpc
from .v1 import vecstore_pb2 as pb


def connect_async(
    target: str,
    api_key: str | None = None,
    *,
    tls: bool = False,
    root_certificates: bytes | str | os.PathLike | None = None,
    server_name: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> "AsyncClient":
    """Connect to a `vecstore serve` daemon at "host:port", for asyncio code.
    The options are those of `vecstore.rpc.client.connect`."""
    return AsyncClient(target, api_key, tls=tls, root_certificates=root_certificates, server_name=server_name,
                       timeout=timeout, max_message_bytes=max_message_bytes)


def _awaitable(blocking: Callable[..., Any]) -> Callable[..., Any]:
    """The coroutine method that awaits the plan a blocking method runs."""
    plan = blocking.__wrapped__

    @functools.wraps(plan)
    async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return await self._run(plan(self, *args, **kwargs))

    return method


async def _drive(plan: Plan, send: Callable[[_Call], Any]) -> Any:
    """client._drive with awaited calls."""
    try:
        call = next(plan)
        while True:
            try:
                response = await send(call)
            except VecstoreError as exc:
                call = plan.throw(exc)
            else:
                call = plan.send(response)
    except StopIteration as done:
        return done.value


class AsyncClient(_ClientCore):
    """What `vecstore.connect_async` returns: `Client`'s methods as coroutines.
    Safe to share between the tasks of its event loop."""

    _channels = grpc.aio

    async def _run(self, plan: Plan) -> Any:
        return await _drive(plan, self._send)

    async def _send(self, call: _Call) -> Any:
        method, kwargs = self._invocation(call)
        try:
            return await method(call.request, **kwargs)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, self.target) from None
        except asyncio.CancelledError:
            # grpc.aio cancels a stream whose request iterator raised; the plan
            # then raises what the iterator raised. Any other cancellation is
            # the caller's own and goes on.
            source = call.request
            if isinstance(source, (_RememberingIterator, _RememberingAsyncIterator)) and source.error is not None:
                raise UnavailableError(f"CANCELLED: the request stream failed (server {self.target})") from None
            raise

    def _collection(self, description: pb.CollectionDescription) -> "AsyncRemoteCollection":
        return AsyncRemoteCollection(self, *C.description_from_proto(description))

    # -- the Database interface ------------------------------------------------------
    create_collection = _awaitable(Client.create_collection)
    get_collection = _awaitable(Client.get_collection)
    list_collections = _awaitable(Client.list_collections)
    snapshot = _awaitable(Client.snapshot)
    drop_collection = _awaitable(Client.drop_collection)

    # -- lifecycle -------------------------------------------------------------------
    async def close(self) -> None:
        """Close the channel. Idempotent."""
        if not self._closed:
            self._closed = True
            await self._channel.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncRemoteCollection(_CollectionCore):
    """`RemoteCollection`'s methods as coroutines, for one collection on the server."""

    upsert = _awaitable(RemoteCollection.upsert)
    import_batches = _awaitable(RemoteCollection.import_batches)
    delete = _awaitable(RemoteCollection.delete)
    set_payload = _awaitable(RemoteCollection.set_payload)
    overwrite_payload = _awaitable(RemoteCollection.overwrite_payload)
    delete_payload_keys = _awaitable(RemoteCollection.delete_payload_keys)
    create_payload_index = _awaitable(RemoteCollection.create_payload_index)
    drop_payload_index = _awaitable(RemoteCollection.drop_payload_index)
    payload_indexes = _awaitable(RemoteCollection.payload_indexes)
    optimize = _awaitable(RemoteCollection.optimize)
    count = _awaitable(RemoteCollection.count)
    info = _awaitable(RemoteCollection.info)
    get = _awaitable(RemoteCollection.get)
    search = _awaitable(RemoteCollection.search)
    search_by_id = _awaitable(RemoteCollection.search_by_id)
    scroll = _awaitable(RemoteCollection.scroll)
