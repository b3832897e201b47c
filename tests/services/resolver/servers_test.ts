import assert from "node:assert/strict";
import { Inflight } from "../../../services/resolver/inflight.ts";
import { ServerStats } from "../../../services/resolver/servers.ts";

Deno.test("ServerStats orders servers fastest first and unknown ones before slow ones", () => {
  const stats = new ServerStats();
  stats.recordReply("127.0.0.2:53", 5);
  stats.recordReply("127.0.0.3:53", 400);
  const order = stats.order(["127.0.0.3:53", "127.0.0.4:53", "127.0.0.2:53"]);
  assert.deepEqual(order, ["127.0.0.2:53", "127.0.0.4:53", "127.0.0.3:53"]);
});

Deno.test("ServerStats sets a server aside after repeated timeouts, for a while", () => {
  let now = 0;
  const stats = new ServerStats({ timeoutsBeforeDead: 2, deadForMs: 1000 }, () => now);
  stats.recordReply("a", 1);
  stats.recordTimeout("a");
  assert.equal(stats.isDead("a"), false);
  stats.recordTimeout("a");
  assert.equal(stats.isDead("a"), true);
  stats.recordReply("b", 900);
  assert.deepEqual(stats.order(["a", "b"]), ["b", "a"], "dead servers go last");
  now += 1001;
  assert.equal(stats.isDead("a"), false);
  stats.recordReply("a", 2);
  assert.equal(stats.rttMs("a"), 2);
});

Deno.test("ServerStats smooths round trip times", () => {
  const stats = new ServerStats();
  stats.recordReply("s", 100);
  stats.recordReply("s", 200);
  assert.equal(stats.rttMs("s"), 130);
});

Deno.test("ServerStats forgets the oldest servers past its bound", () => {
  const stats = new ServerStats({ serversMax: 3 });
  for (const s of ["a", "b", "c", "d"]) stats.recordReply(s, 1);
  assert.equal(stats.rttMs("a"), undefined);
  assert.equal(stats.rttMs("d"), 1);
});

Deno.test("Inflight shares one run among concurrent callers with the same key", async () => {
  const inflight = new Inflight<number>();
  let runs = 0;
  let release!: (n: number) => void;
  const work = () => {
    runs++;
    return new Promise<number>((resolve) => release = resolve);
  };
  const first = inflight.run("q", work);
  const second = inflight.run("q", work);
  const other = inflight.run("other", () => Promise.resolve(7));
  assert.equal(runs, 1);
  release(42);
  assert.deepEqual(await Promise.all([first, second, other]), [42, 42, 7]);
  assert.equal(inflight.size, 0);
  await inflight.run("q", () => Promise.resolve(1));
  assert.equal(runs, 1);
});

Deno.test("Inflight lets a failed run be retried", async () => {
  const inflight = new Inflight<number>();
  await assert.rejects(() => inflight.run("k", () => Promise.reject(new Error("upstream down"))));
  assert.equal(await inflight.run("k", () => Promise.resolve(5)), 5);
});
