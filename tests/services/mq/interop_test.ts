// The mq driven by a published STOMP client: Debian's python3-stomp
// (stomp.py 8), over STOMP 1.2 and 1.1, as an application would use it:
// connect with login, send with receipts and a user header, subscribe with
// client-individual acks, acknowledge, NACK to the dead-letter queue, and
// disconnect with a receipt.

import assert from "node:assert/strict";
import { service } from "../../../services/mq/mod.ts";
import { interopRequired, interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";

const SCRIPT = `
import sys, time, stomp

port = int(sys.argv[1])
version = sys.argv[2]
Conn = stomp.Connection12 if version == "1.2" else stomp.Connection11

class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.messages = []
        self.errors = []
    def on_message(self, frame):
        self.messages.append(frame)
    def on_error(self, frame):
        self.errors.append(frame.headers.get("message"))

def wait(predicate, seconds=10):
    deadline = time.time() + seconds
    while not predicate():
        if time.time() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.01)

conn = Conn([("127.0.0.1", port)], heartbeats=(0, 0))
listener = Listener()
conn.set_listener("", listener)
conn.connect("guest", "secret", wait=True)
for i in range(3):
    conn.send("/queue/py" + version, body="hello %d" % i, headers={"x-app": "py", "receipt": "s%d" % i})
conn.subscribe("/queue/py" + version, id="1", ack="client-individual")
wait(lambda: len(listener.messages) == 3)
bodies = [m.body for m in listener.messages]
assert bodies == ["hello 0", "hello 1", "hello 2"], bodies
assert all(m.headers["x-app"] == "py" for m in listener.messages)
def settle(method, m, **headers):
    # stomp.py 1.2 takes the ack header alone; 1.1 the message-id and subscription.
    if version == "1.2":
        method(m.headers["ack"], **headers)
    else:
        method(m.headers["message-id"], "1", **headers)
for m in listener.messages[:2]:
    settle(conn.ack, m)
settle(conn.nack, listener.messages[2], requeue="false")
conn.subscribe("/queue/py" + version + ".dlq", id="2", ack="auto")
wait(lambda: len(listener.messages) == 4)
dead = listener.messages[3]
assert dead.body == "hello 2", dead.body
assert dead.headers["x-death-reason"] == "rejected", dead.headers
assert listener.errors == [], listener.errors
conn.disconnect()
print("ok")
`;

/** A python3 that has stomp.py, or undefined. */
function pythonWithStomp(): string | undefined {
  for (const python of ["/usr/bin/python3", "python3"]) {
    try {
      const { success } = new Deno.Command(python, {
        args: ["-c", "import stomp"],
        stdout: "null",
        stderr: "null",
      }).outputSync();
      if (success) return python;
    } catch { /* not there */ }
  }
  return undefined;
}

const python = pythonWithStomp();

if (python === undefined && !interopRequired()) {
  console.warn("skipped: python3-stomp not installed (mq interop)");
  Deno.test({ name: "mq: python3-stomp (skipped: not installed)", ignore: true, fn() {} });
} else {
  for (const version of ["1.2", "1.1"]) {
    interopTest(`mq: python3-stomp over STOMP ${version}`, {
      binaries: ["python3"],
      async fn() {
        assert.ok(python, "python3-stomp is not installed");
        await using mq = await startService(service, { user: "guest", password: "secret" });
        const { code, stdout, stderr } = await new Deno.Command(python, {
          args: ["-c", SCRIPT, String(mq.addresses.tcp.port), version],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const out = new TextDecoder().decode(stdout);
        assert.equal(code, 0, `${out}\n${new TextDecoder().decode(stderr)}`);
        assert.match(out, /ok/);
      },
    });
  }
}
