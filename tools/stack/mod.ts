// `underhood start`: the whole stack on one machine, no Docker.
//
// Each service runs as its own supervised child process in the topology of
// DESIGN.md (two http-api copies behind the load balancer, the resolver
// answering example.com from our own authoritative server). Services whose
// modules are not written yet are listed and skipped.

import { fileURLToPath } from "node:url";
import { isBuilt } from "../../commands.ts";
import { defineTool } from "../../lib/service.ts";
import { waitForStopSignal } from "../../lib/lifecycle.ts";
import { type ChildSpec, Supervisor } from "../../lib/supervisor.ts";

/** One process of the stack: which command, under which label, with which flags. */
export interface StackMember {
  readonly label: string;
  readonly command: string;
  readonly args: readonly string[];
}

/** The local topology, in start order (dependencies first). */
export const STACK: readonly StackMember[] = [
  { label: "dns", command: "dns", args: ["--zone", "config/zones/example.com.zone"] },
  { label: "resolver", command: "resolver", args: ["--stub", "example.com=127.0.0.1:1053"] },
  { label: "datastore", command: "datastore", args: [] },
  { label: "cache", command: "cache", args: [] },
  { label: "mq", command: "mq", args: [] },
  { label: "objects", command: "objects", args: [] },
  { label: "smtp", command: "smtp", args: [] },
  { label: "http-api-1", command: "http-api", args: ["--port", "8001"] },
  { label: "http-api-2", command: "http-api", args: ["--port", "8002"] },
  { label: "lb", command: "lb", args: ["--config", "config/lb.json"] },
  { label: "worker", command: "worker", args: [] },
];

const MAIN_PATH = fileURLToPath(new URL("../../main.ts", import.meta.url));

/** The child processes for the members whose command is built. */
export function childSpecs(
  members: readonly StackMember[],
  extraArgs: readonly string[] = [],
): ChildSpec[] {
  return members.filter((m) => isBuilt(m.command)).map((member) => ({
    name: member.label,
    command: [
      Deno.execPath(),
      "run",
      "-A",
      MAIN_PATH,
      member.command,
      ...member.args,
      ...extraArgs,
    ],
  }));
}

export const stack = defineTool({
  name: "start",
  summary: "run the whole stack, one supervised process per service; Ctrl-C stops it",
  flags: {
    "log-format": {
      type: "string",
      default: "text",
      choices: ["text", "json"],
      help: "log line format passed to every service",
    },
  },
  async run(config) {
    const skipped = STACK.filter((m) => !isBuilt(m.command)).map((m) => m.label);
    const children = childSpecs(STACK, ["--log-format", config.logFormat]);
    const supervisor = new Supervisor(children);
    const say = (line: string) => console.log(`stack | ${line}`);
    if (skipped.length > 0) say(`not built yet: ${skipped.join(", ")}`);
    if (children.length === 0) {
      say("nothing to run yet");
      return 0;
    }
    say(`starting ${children.map((c) => c.name).join(", ")}`);
    const stopSignal = waitForStopSignal();
    supervisor.start();
    const signal = await stopSignal.promise;
    say(`${signal} received, stopping every service`);
    await supervisor.stop();
    say("stopped");
    return 0;
  },
});
