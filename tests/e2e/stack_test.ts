// The whole stack end to end, as a newcomer would drive it: `deno task start
// --free-ports` as a subprocess in a fresh directory, then, through the
// balancer and by name (example.com resolved through our resolver):
//
//   create a spell, read it twice (the second read from the cache, seen in
//   the cache's own INFO stats), upload and fetch an image through /files
//   (objects behind the lb) and through the API, find the notification mail
//   the worker sent in the smtp mailbox API, kill -9 one http-api
//   copy and see the balancer keep serving, stop the stack, start it again
//   on the same data directory and find the spell still there.

import assert from "node:assert/strict";
import { query } from "../../lib/dns/client.ts";
import { parseName } from "../../lib/dns/name.ts";
import { RecordType } from "../../lib/dns/types.ts";
import { HttpClient } from "../../lib/http/client.ts";
import { RespClient } from "../../lib/resp/client.ts";
import { NOTIFY_TO } from "../../tools/stack/mod.ts";
import { STACK_STARTED, StackProcess } from "./_stack_process.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** Starts the stack in `cwd` and waits until it says every service is ready. */
async function startStack(cwd: string): Promise<StackProcess> {
  const stack = new StackProcess([], { cwd });
  await stack.waitFor(
    "every service to be ready",
    () => stack.lines.some((l) => l.includes("every service is ready")),
    { timeoutMs: 90_000 },
  );
  return stack;
}

async function stopStack(stack: StackProcess): Promise<void> {
  Deno.kill(stack.process.pid, "SIGTERM");
  const status = await stack.status();
  assert.equal(status.code, 0, stack.lines.join("\n"));
}

/** example.com's address, asked of the stack's resolver over UDP. */
async function resolve(resolverPort: number, name: string): Promise<string> {
  const { message } = await query(
    { hostname: "127.0.0.1", port: resolverPort },
    parseName(`${name}.`),
    RecordType.A,
  );
  const answer = message.answers.find((rr) => rr.type === RecordType.A);
  assert.ok(answer !== undefined && answer.data.kind === "A", `an A record for ${name}`);
  return answer.data.address;
}

/** The balancer, reached as http://example.com:<port>: a name our DNS resolves. */
class Site {
  readonly http = new HttpClient();
  constructor(readonly address: string, readonly port: number) {}

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const bytes = body instanceof Uint8Array;
    const response = await this.http.request(`http://${this.address}:${this.port}${path}`, {
      method,
      headers: {
        host: `example.com:${this.port}`,
        ...(body === undefined || bytes ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? null : bytes ? body : JSON.stringify(body),
    });
    const data = await response.bytes();
    return { status: response.status, headers: response.headers, data };
  }

  async json(method: string, path: string, body?: unknown) {
    const { status, headers, data } = await this.call(method, path, body);
    const text = new TextDecoder().decode(data);
    return { status, headers, body: text === "" ? undefined : JSON.parse(text) as Json };
  }
}

async function cacheHits(port: number): Promise<number> {
  using redis = await RespClient.connect({ port });
  const info = new TextDecoder().decode((await redis.send("INFO", "stats")) as Uint8Array);
  return Number(/keyspace_hits:(\d+)/.exec(info)?.[1]);
}

function pidOf(stack: StackProcess, label: string): number {
  const pids = stack.lines.map((l) => STACK_STARTED.exec(l)).filter((m) => m?.[1] === label);
  assert.ok(pids.length > 0, `${label} started:\n${stack.lines.join("\n")}`);
  return Number(pids[pids.length - 1]![2]);
}

Deno.test({
  name:
    "the stack end to end: a spell through the balancer by name, cached, with an image, surviving a kill -9 and a restart",
  async fn() {
    const cwd = await Deno.makeTempDir({ prefix: "underhood-e2e-" });
    let stack: StackProcess | undefined;
    try {
      stack = await startStack(cwd);
      let ports = stack.ports();
      const address = await resolve(ports.resolver.udp, "example.com");
      assert.equal(address, "127.0.0.1");
      let site = new Site(address, ports.lb.http);

      // Create a spell through the lb.
      const created = await site.json("POST", "/api/spells", {
        name: "Expecto Patronum",
        incantation: "Expecto patronum!",
        description: "Conjures a guardian.",
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const spell = created.body;
      assert.equal(created.headers.get("location"), `/api/spells/${spell.id}`);

      // Read it twice: the second read comes from the cache, whichever copy answers.
      const hitsBefore = await cacheHits(ports.cache.tcp);
      const first = await site.json("GET", `/api/spells/${spell.id}`);
      const second = await site.json("GET", `/api/spells/${spell.id}`);
      assert.equal(first.status, 200);
      assert.equal(first.headers.get("x-cache"), "miss");
      assert.equal(second.headers.get("x-cache"), "hit");
      assert.deepEqual(second.body, spell);
      assert.equal(await cacheHits(ports.cache.tcp), hitsBefore + 1, "one hit in INFO stats");

      // An image through /files (the objects service behind the lb, public bucket)...
      const image = new Uint8Array(50_000).map((_, i) => (i * 31) & 0xff);
      const put = await site.call("PUT", "/files/patronus.png", image, {
        "content-type": "image/png",
      });
      assert.equal(put.status, 200);
      const fetched = await site.call("GET", "/files/patronus.png");
      assert.equal(fetched.status, 200);
      assert.deepEqual(fetched.data, image);
      // ... and through the API, stored in the objects service with SigV4.
      const stored = await site.call("PUT", `/api/spells/${spell.id}/image`, image, {
        "content-type": "image/png",
      });
      assert.equal(stored.status, 200, new TextDecoder().decode(stored.data));
      const back = await site.call("GET", `/api/spells/${spell.id}/image`);
      assert.equal(back.status, 200);
      assert.equal(back.headers.get("content-type"), "image/png");
      assert.deepEqual(back.data, image);

      // The worker turned spell.created into a mail to dev@example.com, delivered to the
      // zone's MX (found through the resolver): the stack's smtp, seen in its mailbox API.
      {
        await using mail = new HttpClient();
        const messages = `http://127.0.0.1:${ports.smtp.admin}/api/mailboxes/${NOTIFY_TO}/messages`;
        let subjects: string[] = [];
        const deadline = Date.now() + 30_000;
        while (!subjects.some((s) => s.includes("Expecto Patronum")) && Date.now() < deadline) {
          const response = await mail.request(messages);
          subjects = response.status === 200
            ? (await response.json<{ subject: string }[]>()).map((m) => m.subject)
            : (await response.body.cancel(), []);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        assert.ok(
          subjects.some((s) => s.includes("Expecto Patronum")),
          `a mail about Expecto Patronum in ${NOTIFY_TO}'s mailbox: ${subjects}`,
        );
      }

      // kill -9 one http-api copy: the balancer keeps serving from the other.
      Deno.kill(pidOf(stack, "http-api-1"), "SIGKILL");
      await stack.waitFor(
        "the supervisor to see http-api-1 die",
        () => stack!.lines.some((l) => l.includes("http-api-1 exited with signal SIGKILL")),
      );
      for (let i = 0; i < 10; i++) {
        const read = await site.json("GET", `/api/spells/${spell.id}`);
        assert.equal(read.status, 200, `read ${i} after the kill: ${JSON.stringify(read.body)}`);
      }
      const afterKill = await site.json("POST", "/api/spells", {
        name: "Episkey",
        incantation: "Episkey!",
      });
      assert.equal(afterKill.status, 201, JSON.stringify(afterKill.body));

      // Stop the stack cleanly; start it again on the same data directory.
      await site.http.close();
      await stopStack(stack);
      stack = await startStack(cwd);
      ports = stack.ports();
      site = new Site(await resolve(ports.resolver.udp, "example.com"), ports.lb.http);
      const again = await site.json("GET", `/api/spells/${spell.id}`);
      assert.equal(again.status, 200);
      assert.equal(again.body.name, "Expecto Patronum");
      assert.equal(again.body.image, `/api/spells/${spell.id}/image`);
      const list = await site.json("GET", "/api/spells?q=episkey");
      assert.equal(list.body.items.length, 1);
      const imageAgain = await site.call("GET", `/api/spells/${spell.id}/image`);
      assert.deepEqual(imageAgain.data, image);
      await site.http.close();
      await stopStack(stack);
    } finally {
      if (stack !== undefined && !stack.exited) Deno.kill(-stack.process.pid, "SIGKILL");
      await stack?.status();
      await Deno.remove(cwd, { recursive: true });
    }
  },
});
