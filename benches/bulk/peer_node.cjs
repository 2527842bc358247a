// Peer of the bulk benchmark: the same load through the `dynamics-web-api` npm package. Its
// best bulk path is the CreateMultiple action bound to the entity set (`callAction` with
// `collection`), in chunks of 1,000 records, four at a time (the emulator's x-ms-dop-hint).
// Reads BULK_URL, BULK_TOKEN, BULK_RECORDS; prints "records seconds".
"use strict";
const { DynamicsWebApi } = require("dynamics-web-api");

const records = Number(process.env.BULK_RECORDS);
const api = new DynamicsWebApi({
  serverUrl: process.env.BULK_URL,
  dataApi: { version: "9.2" },
  onTokenRefresh: async () => process.env.BULK_TOKEN,
});
const CHUNK = 1000;
const WORKERS = 4;

async function worker(starts) {
  let done = 0;
  for (const start of starts) {
    const Targets = [];
    for (let i = start; i < Math.min(start + CHUNK, records); i++) {
      Targets.push({ "@odata.type": "Microsoft.Dynamics.CRM.account", name: `node ${i}` });
    }
    const reply = await api.callAction({
      actionName: "Microsoft.Dynamics.CRM.CreateMultiple",
      collection: "accounts",
      action: { Targets },
    });
    done += reply.Ids.length;
  }
  return done;
}

(async () => {
  const starts = [];
  for (let s = 0; s < records; s += CHUNK) starts.push(s);
  const shares = Array.from({ length: WORKERS }, (_, w) => starts.filter((_, i) => i % WORKERS === w));
  const t0 = Date.now();
  const done = (await Promise.all(shares.map(worker))).reduce((a, b) => a + b, 0);
  console.log(`${done} ${((Date.now() - t0) / 1000).toFixed(2)}`);
  process.exit(done === records ? 0 : 1);
})().catch((e) => {
  console.error(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
