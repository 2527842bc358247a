// The CRUD + query workload of BENCHMARKS.md through the `dynamics-web-api` npm package.
// Run by dynamics-client/benches/peer_workload.rs (see ../README.md), which supplies:
//   PEER_URL         the emulator's environment URL
//   PEER_TOKEN       a bearer token (the same one the Rust client is given)
//   PEER_ITERATIONS  how many times to run the five operations
// Prints one JSON line: {"iterations": N, "ms": elapsed}.
"use strict";
const { DynamicsWebApi } = require("dynamics-web-api");

const url = process.env.PEER_URL;
const token = process.env.PEER_TOKEN;
const iterations = Number(process.env.PEER_ITERATIONS || "200");
const tag = process.env.PEER_TAG || "node";

const api = new DynamicsWebApi({
  serverUrl: url,
  dataApi: { version: "9.2" },
  onTokenRefresh: async () => token,
});

// create, retrieve 2 columns, update, query by the new name (top 5), delete.
async function run(label, count) {
  for (let i = 0; i < count; i++) {
    const name = `peer ${tag} ${label} ${i}`;
    const created = await api.create({ collection: "accounts", data: { name, revenue: 1000 + i } });
    const id = typeof created === "object" && created !== null ? created.accountid : created;
    const record = await api.retrieve({ collection: "accounts", key: id, select: ["name", "revenue"] });
    if (record.name !== name) throw new Error(`retrieve answered ${JSON.stringify(record)}`);
    await api.update({ collection: "accounts", key: id, data: { name: `${name} updated` } });
    const page = await api.retrieveMultiple({
      collection: "accounts",
      select: ["name"],
      filter: `name eq '${name} updated'`,
      top: 5,
    });
    if (page.value.length !== 1) throw new Error(`query found ${page.value.length} records`);
    await api.deleteRecord({ collection: "accounts", key: id });
  }
}

(async () => {
  await run("warm-up", 20);
  const start = process.hrtime.bigint();
  await run("timed", iterations);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  console.log(JSON.stringify({ iterations, ms }));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
