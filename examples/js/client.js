// A vecstore client in JavaScript, written from the proto file alone:
// create a collection, upsert vectors as float32 bytes with JSON payloads,
// search (with payloads, and with a filter), page through the points with a
// cursor, read an error's status and vecstore code, drop the collection.
//
//   vecstore serve --data-dir /tmp/jsdemo --port 50077
//   cd examples/js && npm install && node client.js 127.0.0.1:50077
//
// Optional: VECSTORE_API_KEY=... when the server has API keys.
"use strict";

const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTO = path.join(__dirname, "..", "..", "proto", "vecstore", "v1", "vecstore.proto");
const definition = protoLoader.loadSync(PROTO, {
  keepCase: true, // field names as in the proto (collection_id, not collectionId)
  longs: String, // int64 ids as strings: exact beyond 2**53
  enums: String, // "METRIC_COSINE", not 1
  defaults: true, // unset plain fields read as their zero value; `optional` ones stay undefined
  oneofs: true, // a oneof's name says which case is set
});
const v1 = grpc.loadPackageDefinition(definition).vecstore.v1;

const target = process.argv[2] || "127.0.0.1:50077";
const metadata = new grpc.Metadata();
if (process.env.VECSTORE_API_KEY) metadata.set("authorization", `Bearer ${process.env.VECSTORE_API_KEY}`);
// the server's default message limit is 64 MiB each way; grpc-js receives only 4 MiB by default
const options = { "grpc.max_receive_message_length": 64 << 20, "grpc.max_send_message_length": 64 << 20 };
const collections = new v1.Collections(target, grpc.credentials.createInsecure(), options);
const points = new v1.Points(target, grpc.credentials.createInsecure(), options);

// one promise per unary call, each with a 30 s deadline (the proto has no timeout fields)
function call(stub, method, request) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + 30_000);
    stub[method](request, metadata, { deadline }, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

// n rows of dim float32 values -> a `Vectors` message: n * dim * 4 bytes,
// little-endian, row-major. Float32Array uses the machine's byte order;
// every platform Node runs on is little-endian (checked in main).
function toVectors(rows, dim) {
  const flat = new Float32Array(rows.length * dim);
  rows.forEach((row, i) => flat.set(row, i * dim));
  return { dim, data: Buffer.from(flat.buffer, flat.byteOffset, flat.byteLength) };
}

// a `Vectors` message -> an array of Float32Array rows (copied: the Buffer
// may not be 4-byte aligned)
function fromVectors(vectors) {
  const { dim, data } = vectors;
  const flat = new Float32Array(new Uint8Array(data).buffer);
  const rows = [];
  for (let i = 0; i < flat.length / dim; i++) rows.push(flat.subarray(i * dim, (i + 1) * dim));
  return rows;
}

// payload bytes -> object; empty bytes are "no payload"
function payload(bytes) {
  return bytes.length ? JSON.parse(bytes.toString("utf8")) : null;
}

// the stable vecstore error code of a failed call, from its trailing
// metadata; null when gRPC itself failed the call (deadline, unreachable, ...)
function vecstoreCode(err) {
  const values = err.metadata ? err.metadata.get("vecstore-error-code") : [];
  return values.length ? String(values[0]) : null;
}

function describe(err) {
  return `status ${grpc.status[err.code]} (${err.code}), vecstore code ${vecstoreCode(err)}: ${err.details}`;
}

// a deterministic vector per id, so every run gives the same hits
function vector(seed, dim) {
  const row = new Float32Array(dim);
  let x = seed * 7919 + 1;
  for (let j = 0; j < dim; j++) {
    x = (x * 48271) % 2147483647;
    row[j] = x / 2147483647 - 0.5;
  }
  return row;
}

async function main() {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error("this example assumes a little-endian machine");
  const dim = 8;
  const name = "js_example";

  // start clean: drop what an interrupted run may have left; the vecstore
  // code tells "no such collection" apart from every other NOT_FOUND
  await call(collections, "DropCollection", { name }).catch((err) => {
    if (vecstoreCode(err) !== "COLLECTION_NOT_FOUND") throw err;
  });

  const created = await call(collections, "CreateCollection", {
    config: { name, dim, metric: "METRIC_COSINE", quantization: { none: {} } },
  });
  // collection_id pins this collection: after a drop, calls with it get NOT_FOUND
  const ref = { name, collection_id: created.collection.collection_id };
  console.log(`created ${name} (collection_id ${ref.collection_id}, metric ${created.collection.config.metric})`);

  const ids = [1, 2, 3, 4, 5];
  const rows = ids.map((id) => vector(id, dim));
  const payloads = ids.map((id) => Buffer.from(JSON.stringify({ title: `doc ${id}`, even: id % 2 === 0 })));
  const upserted = await call(points, "Upsert", { collection: ref, ids, vectors: toVectors(rows, dim), payloads });
  console.log(`upserted ${upserted.written} points`);

  // two queries in one call (nq = 2: the rows of `queries`), the vectors of
  // ids 3 and 4, so the best hit of each is itself with cosine 1
  const found = await call(points, "Search", {
    collection: ref,
    queries: toVectors([vector(3, dim), vector(4, dim)], dim),
    k: 3,
    with_payloads: true,
  });
  found.results.forEach((hits, q) => {
    hits.ids.forEach((id, i) => {
      console.log(`query ${q} hit ${i}: id ${id} score ${hits.scores[i].toFixed(4)} payload ${JSON.stringify(payload(hits.payloads[i]))}`);
    });
  });

  // {"even": true} as a Filter message
  const filtered = await call(points, "Search", {
    collection: ref,
    queries: toVectors([vector(4, dim)], dim),
    k: 3,
    filter: { condition: { key: "even", eq: { bool_value: true } } },
  });
  console.log(`even ids only: ${filtered.results[0].ids.join(", ")}`);

  const got = await call(points, "Get", { collection: ref, ids: [3], with_vectors: true });
  const [row] = fromVectors(got.vectors);
  console.log(`get 3: payload ${JSON.stringify(payload(got.payloads[0]))}, vector[0..2] ${Array.from(row.slice(0, 3), (v) => v.toFixed(4)).join(", ")}`);

  // scroll in pages of 2: each page's next_cursor goes into the next request's `after`
  let after; // unset: from the start
  const pages = [];
  do {
    const page = await call(points, "Scroll", { collection: ref, limit: 2, after, with_payloads: false });
    pages.push(`[${page.ids.join(", ")}]`);
    after = page.next_cursor; // undefined after the last page (a proto3 `optional` field)
  } while (after !== undefined);
  console.log(`scroll pages: ${pages.join(" ")}`);

  // an error: a vector of the wrong dim is INVALID_ARGUMENT with code DIMENSION_MISMATCH
  try {
    await call(points, "Upsert", { collection: ref, ids: [9], vectors: toVectors([vector(9, dim + 1)], dim + 1) });
  } catch (err) {
    console.log(`wrong dim: ${describe(err)}`);
  }

  await call(collections, "DropCollection", { name });
  console.log(`dropped ${name}`);
  // the old reference now names nothing: NOT_FOUND / COLLECTION_NOT_FOUND
  try {
    await call(points, "Count", { collection: ref });
  } catch (err) {
    console.log(`count after drop: ${describe(err)}`);
  }
}

main()
  .catch((err) => {
    console.error(err.code !== undefined ? describe(err) : err);
    process.exitCode = 1;
  })
  .finally(() => {
    collections.close();
    points.close();
  });
