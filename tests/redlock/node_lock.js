// node_lock.js — node-redlock (npm `redlock` 5 + `ioredis`) on the same
// servers as baton, for node_interop.sh.
//   node node_lock.js PORT,PORT,PORT hold MS NAME   acquire, hold MS, release
//   node node_lock.js PORT,PORT,PORT try 0 NAME     one attempt, no retry
// Prints "node: acquired ...", "node: released ..." or "node: refused ...".
const Redis = require("ioredis");
const { default: Redlock } = require("redlock");
const [ports, mode, arg, name] = process.argv.slice(2);
const clients = ports.split(",").map((p) => new Redis({ port: +p, host: "127.0.0.1", lazyConnect: false }));
const redlock = new Redlock(clients, { retryCount: 0 });
(async () => {
  try {
    if (mode === "hold") {
      const lock = await redlock.acquire([name], 10000);
      console.log("node: acquired " + Date.now());
      await new Promise((r) => setTimeout(r, +arg));
      await lock.release();
      console.log("node: released " + Date.now());
    } else {
      const lock = await redlock.acquire([name], 10000);
      console.log("node: acquired");
      await lock.release();
    }
  } catch (e) {
    console.log("node: refused: " + e.constructor.name);
  }
  clients.forEach((c) => c.disconnect());
})();
