import assert from "node:assert/strict";
import { startOnFreePort } from "./reference_port.ts";

// A stand-in reference server: binds the port it is given, then says so.
const SERVER = `
const listener = Deno.listen({ hostname: "127.0.0.1", port: Number(Deno.args[0]) });
console.log("ready to accept connections");
await Deno.stdin.readable.pipeTo(new WritableStream());
listener.close();
`;

Deno.test("startOnFreePort() starts the server again on another port when its port was taken first", async () => {
  const taken: Deno.Listener[] = [];
  const ports: number[] = [];
  const server = await startOnFreePort((port) => {
    ports.push(port);
    // The first port is taken between the probe and the server's bind, the
    // way a test running alongside can take it; the server then exits.
    if (ports.length === 1) taken.push(Deno.listen({ hostname: "127.0.0.1", port }));
    return new Deno.Command(Deno.execPath(), {
      args: ["eval", SERVER, String(port)],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  }, { ready: /ready to accept connections/ });
  try {
    assert.equal(ports.length, 2, "one more attempt");
    assert.equal(server.port, ports[1]);
    assert.notEqual(ports[0], ports[1]);
  } finally {
    for (const listener of taken) listener.close();
    await server.process.stdin.close();
    assert.equal((await server.exited).code, 0);
  }
});

Deno.test("startOnFreePort() gives up after its attempts with what the server said", async () => {
  await assert.rejects(
    startOnFreePort(() =>
      new Deno.Command(Deno.execPath(), {
        args: ["eval", 'console.error("no luck"); Deno.exit(3)'],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn(), { ready: /ready/, attempts: 2 }),
    /did not start in 2 attempts:[^]*exited \(3\)[^]*no luck/,
  );
});
