// The differential test: every conversation of scenarios.ts runs against
// our broker and against RabbitMQ's STOMP plugin (Debian's rabbitmq-server,
// started privately on loopback ports by rabbit.ts), and the normalised
// transcripts must be equal. Where RabbitMQ differs on purpose (its own
// departures from the STOMP spec, or bounds it lacks), the scenario says why
// and gives our transcript, which must then match; docs/mq.md lists them
// ("Where we differ from RabbitMQ").
//
// Skipped, visibly, when rabbitmq-server is not installed, unless
// REQUIRE_INTEROP=1 (CI installs it from .ci/packages.txt): then it fails.
// RabbitMQ 3.10 (Debian 12) started here in 5.6 s on a quiet machine; the
// whole test took 9.7 s with the machine at load 11.
// MQ_DIFF_PRINT=1 prints both transcripts of every scenario;
// MQ_RABBIT_PORT=N uses a RabbitMQ already listening for STOMP on N
// (guest/guest) instead of starting one.

import assert from "node:assert/strict";
import { service } from "../../../services/mq/mod.ts";
import { interopRequired } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { Conversation, type Target } from "./conversation.ts";
import { rabbitInstalled, startRabbit } from "./rabbit.ts";
import { SCENARIOS } from "./scenarios.ts";

const PRINT = Deno.env.get("MQ_DIFF_PRINT") === "1";
const RABBIT_PORT = Deno.env.get("MQ_RABBIT_PORT");

async function transcript(
  target: Target,
  index: number,
  run: (c: Conversation) => Promise<void>,
): Promise<string[]> {
  const prefix = `d${Date.now().toString(36)}x${index}-`;
  const c = new Conversation(target, prefix);
  try {
    await run(c);
  } finally {
    c.close();
  }
  return c.lines;
}

if (!rabbitInstalled() && RABBIT_PORT === undefined && !interopRequired()) {
  console.warn("skipped: rabbitmq-server not installed (mq differential against RabbitMQ)");
  Deno.test({
    name: "mq: differential against RabbitMQ (skipped: rabbitmq-server not installed)",
    ignore: true,
    fn() {},
  });
} else {
  Deno.test("mq: scenario conversations give the frames RabbitMQ's STOMP plugin gives", async (t) => {
    if (!rabbitInstalled() && RABBIT_PORT === undefined) {
      throw new Error("REQUIRE_INTEROP=1 but rabbitmq-server is not installed");
    }
    const rabbit = RABBIT_PORT === undefined ? await startRabbit() : undefined;
    try {
      await using mq = await startService(service, { user: "guest", password: "guest" });
      const login = { login: "guest", passcode: "guest" };
      const ours: Target = { name: "mq", port: mq.addresses.tcp.port, strict: true, ...login };
      const theirs: Target = {
        name: "RabbitMQ",
        port: rabbit?.port ?? Number(RABBIT_PORT),
        strict: false,
        ...login,
      };
      for (const [index, scenario] of SCENARIOS.entries()) {
        await t.step(scenario.name, async () => {
          const a = await transcript(ours, index, scenario.run);
          if (scenario.differs !== undefined) {
            if (PRINT) console.log(`--- ${scenario.name}\n-- mq only\n${a.join("\n")}`);
            assert.deepEqual(a, scenario.differs.ours, scenario.differs.why);
            return;
          }
          const b = await transcript(theirs, index, scenario.run);
          if (PRINT) {
            console.log(
              `--- ${scenario.name}\n-- mq\n${a.join("\n")}\n-- RabbitMQ\n${b.join("\n")}`,
            );
          }
          assert.deepEqual(a, b);
        });
      }
    } finally {
      await rabbit?.stop();
    }
  });
}
