// A vecstore client in JavaScript, from the proto file alone:
// create a collection, upsert vectors as Float32Array bytes, search, print
// the hits, and read an error's vecstore code from the trailing metadata.
//
//   vecstore serve --data-dir /tmp/vs --port 0     # prints the address
//   cd examples/js && npm install && node search.js 127.0.0.1:PORT
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
  enums: String,
  defaults: true,
  oneofs: true,
});
const v1 = grpc.loadPackageDefinition(definition).vecstore.v1;

const target = process.argv[2] || "127.0.0.1:50051";
const metadata = new grpc.Metadata();
if (process.env.VECSTORE_API_KEY) metadata.set("authorization", `Bearer ${process.env.VECSTORE_API_KEY}`);
const collections = new v1.Collections(target, grpc.credentials.createInsecure());
const points = new v1.Points(target, grpc.credentials.createInsecure());

// one promise per call, with a 30 s deadline
function call(stub, method, request) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + 30_000);
    stub[method](request, metadata, { deadline }, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

// n rows of dim float32 values -> the `Vectors` message: little-endian,
// row-major (Float32Array uses the machine's order; every platform node
// runs on is little-endian, checked below)
function toVectors(rows, dim) {
  const flat = new Float32Array(rows.length * dim);
  rows.forEach((row, i) => flat.set(row, i * dim));
  return { dim, data: Buffer.from(flat.buffer, flat.byteOffset, flat.byteLength) };
}

// the vecstore error code of a failed call (null: gRPC itself failed it)
function vecstoreCode(err) {
  const values = err.metadata ? err.metadata.get("vecstore-error-code") : [];
  return values.length ? String(values[0]) : null;
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
  const name = `js_example_${Date.now()}`;

  const created = await call(collections, "CreateCollection", {
    config: { name, dim, metric: "METRIC_COSINE", quantization: { none: {} } },
  });
  // the collection_id pins this collection: after a drop, calls with it get NOT_FOUND
  const ref = { name, collection_id: created.collection.collection_id };
  console.log(`created ${name} (collection_id ${ref.collection_id})`);

  const ids = [1, 2, 3, 4, 5];
  const rows = ids.map((id) => vector(id, dim));
  const payloads = ids.map((id) => Buffer.from(JSON.stringify({ title: `doc ${id}`, even: id % 2 === 0 })));
  const upserted = await call(points, "Upsert", { collection: ref, ids, vectors: toVectors(rows, dim), payloads });
  console.log(`upserted ${upserted.written} points`);

  // two queries, the vectors of ids 3 and 4: the best hit of each is itself
  const found = await call(points, "Search", {
    collection: ref,
    queries: toVectors([vector(3, dim), vector(4, dim)], dim),
    k: 3,
  });
  found.results.forEach((hits, q) => {
    const list = hits.ids.map((id, i) => `${id} (${hits.scores[i].toFixed(4)})`).join(", ");
    console.log(`query ${q}: ${list}`);
  });
  const filtered = await call(points, "Search", {
    collection: ref,
    queries: toVectors([vector(4, dim)], dim),
    k: 3,
    filter: { condition: { key: "even", eq: { bool_value: true } } },
  });
  console.log(`even ids only: ${filtered.results[0].ids.join(", ")}`);

  const got = await call(points, "Get", { collection: ref, ids: [3], with_vectors: false });
  console.log(`payload of 3: ${got.payloads[0].toString()}`);

  // an error: a vector of the wrong dim is INVALID_ARGUMENT with code DIMENSION_MISMATCH
  try {
    await call(points, "Upsert", { collection: ref, ids: [9], vectors: toVectors([vector(9, dim + 1)], dim + 1) });
  } catch (err) {
    console.log(`error: status ${grpc.status[err.code]}, vecstore code ${vecstoreCode(err)}: ${err.details}`);
  }

  await call(collections, "DropCollection", { name });
  // the old reference now names nothing: NOT_FOUND / COLLECTION_NOT_FOUND
  try {
    await call(points, "Count", { collection: ref });
  } catch (err) {
    console.log(`after drop: status ${grpc.status[err.code]}, vecstore code ${vecstoreCode(err)}`);
  }
}

main()
  .catch((err) => {
    console.error(err.details || err.message, vecstoreCode(err) || "");
    process.exitCode = 1;
  })
  .finally(() => {
    collections.close();
    points.close();
  });
